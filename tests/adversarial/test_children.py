"""Issue 14, finding 3: a killed worker's ffmpeg lived on and finished a hidden ``.part`` file.

After SIGKILL of the worker, its ffmpeg ran to the end in 6 of 6 runs (a 9 MB reel ``.part`` nothing
removed) and ``highlights-smartcut-*`` / ``highlights-reel-*`` folders stayed in the temp folder. Now
every ffmpeg gets a parent-death signal (``detector.children``), and a worker removes what dead
attempts left: on start (only our names, only older than the lease, never a live process's scratch)
and in the folder of a job it takes over. Real workers, real ffmpeg, both queue backends.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector.bench.chaos_kills import JobSpec, kill_mid_stage
from detector.bench.chaos_procs import alive, kill_all, wait_gone
from detector.scratch import sweep
from detector.synthetic.vod import SyntheticVod
from highlights.cli import main

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]
RENDER = {"layouts": ["9:16"], "top": 2, "reel": True}


@pytest.mark.parametrize("stage", ["reel", "clip"])
def test_a_killed_workers_ffmpeg_dies_with_it_and_leaves_nothing(stage: str, backend_url: tuple[str, str],
                                                                 sample_vod: SyntheticVod, tmp_path: Path) -> None:
    backend, url = backend_url
    if backend == "postgres" and stage == "clip":
        pytest.skip("one stage on PostgreSQL keeps the suite short; `highlights bench chaos` runs them all")
    spec = JobSpec(media=sample_vod.media_path, chat=sample_vod.chat_path, render=RENDER)
    outcome = asyncio.run(kill_mid_stage(url, backend, stage, spec, tmp_path, lease_s=3.0))
    logs = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert outcome.reached, f"{outcome}\n{logs}"
    assert outcome.ffmpeg_at_kill >= 1
    assert outcome.orphans == 0, "the killed worker's ffmpeg kept running"
    assert outcome.status == "succeeded" and outcome.attempts == 2 and not outcome.duplicated, outcome
    assert outcome.leftovers == (), outcome.leftovers
    assert "Traceback" not in logs


def test_ffmpeg_started_by_the_detector_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    code = ("import sys, time\nfrom detector import children\nfrom detector.ffmpeg import ffmpeg_path\n"
            "p = children.popen([ffmpeg_path(), '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', "
            "'sine=duration=600', '-f', 'null', '-'])\nprint(p.pid, flush=True)\ntime.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        ffmpeg = int(parent.stdout.readline())
        assert alive([ffmpeg]) == [ffmpeg]
        parent.kill()
        parent.wait()
        left = wait_gone([ffmpeg], 10.0)
        kill_all(left)
        assert left == [], "ffmpeg outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _old(path: Path, age_s: float) -> Path:
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_a_worker_on_start_removes_what_dead_attempts_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    art, tmp = tmp_path / "art", tmp_path / "tmp"
    clips = art / "jobs" / "7" / "clips" / "9x16"
    clips.mkdir(parents=True)
    tmp.mkdir()
    dead_part = clips / ".clip-01-0-00-30.1a2b3c4d.part.mp4"
    dead_part.write_bytes(b"x" * 1000)
    _old(dead_part, 3600)
    fresh_part = clips / ".clip-02-0-01-00.5e6f7a8b.part.mp4"  # a live worker on another machine writes it
    fresh_part.write_bytes(b"y")
    ours_final = clips / "clip-01-0-00-30.mp4"  # a finished clip: never touched
    ours_final.write_bytes(b"z")
    _old(ours_final, 3600)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_scratch = tmp / f"highlights-reel-{dead.pid}-abc123"
    (dead_scratch / "x").mkdir(parents=True)
    live_scratch = tmp / f"highlights-smartcut-{os.getppid()}-def456"  # its process (pytest's parent) lives
    live_scratch.mkdir()
    foreign = tmp / "someone-elses-folder"
    foreign.mkdir()
    _old(foreign, 3600)
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    assert main(["worker", "--once", "--storage", f"sqlite:///{tmp_path / 'q.db'}", "--artifacts", str(art)]) == 0
    assert not dead_part.exists() and not dead_scratch.exists()
    assert fresh_part.exists() and ours_final.exists() and live_scratch.exists() and foreign.exists()


def test_sweep_keeps_a_recent_part_file_and_takes_an_old_one(tmp_path: Path) -> None:
    folder = tmp_path / "jobs" / "3"
    folder.mkdir(parents=True)
    old = folder / ".result.0123abcd.part.json"
    old.write_text("{}")
    _old(old, 100)
    new = folder / ".report.89abcdef.part.html"
    new.write_text("<")
    result = sweep(tmp_path / "jobs", 20.0, temp_dir=tmp_path / "no-temp")
    assert result.removed == (old,) and new in result.kept
