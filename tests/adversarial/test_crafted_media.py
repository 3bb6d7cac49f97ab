"""Issue 14, finding 1: a header that lies about the duration must not decide how much memory is used.

Each crafted file is given to ``highlights detect`` in a process of its own whose address space is
capped at 2 GiB (``RLIMIT_AS``): before the fix, a 7 MB MKV whose Matroska ``Duration`` claimed
5e7 s made the detector allocate 24 GB (OOM) and 1e12 s raised ``Unable to allocate 14.6 TiB``; under
the cap the old code dies with a MemoryError traceback instead of taking the machine down. Buffers
must now follow what is decoded: the run succeeds, sees the real 6 s and stays small.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detector.bench.chaos_inputs import CraftedInput, try_input
from detector.errors import MediaTooLong
from detector.sources.audio_stream import iter_audio_chunks
from detector.sources.media import probe

ADDRESS_SPACE = 2 << 30
"""The detector and its ffmpeg each fit in 2 GiB of address space (measured: 1.5 GiB is enough)."""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def detect(args: list[str], tmp_path: Path, *, env: dict[str, str] | None = None, quiet: bool = True
           ) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "result.json"
    return subprocess.run([sys.executable, "-m", "highlights", "detect", *args, "--json", str(out),
                           *(["--quiet"] if quiet else [])], capture_output=True, text=True, timeout=240,
                          preexec_fn=_limited, env=env)


@pytest.mark.parametrize("name", ["claims-5e7", "claims-1e7", "claims-1e12"])
def test_a_header_claiming_a_huge_duration_costs_only_what_is_decoded(name: str, crafted: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    proc = detect([str(crafted[name])], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    meta = json.loads((tmp_path / "result.json").read_text())["meta"]
    assert 5.5 <= meta["duration_s"] <= 7.0  # the 6 s it holds, not the 5e7 s it claims


def test_peak_rss_on_a_lying_header_stays_small(crafted: dict[str, Path], tmp_path: Path) -> None:
    outcome = try_input(CraftedInput("claims 5e7 s", (str(crafted["claims-5e7"]),)), tmp_path)
    assert outcome.ok, outcome
    assert outcome.peak_rss_mb < 1024


def test_probe_measures_a_header_past_the_cap_instead_of_believing_it(crafted: dict[str, Path]) -> None:
    info = probe(crafted["claims-1e12"])
    assert 5.5 <= info.duration_s <= 7.0


def test_decoding_past_the_cap_stops_with_one_clear_line(crafted: dict[str, Path], tmp_path: Path) -> None:
    env = {**os.environ, "HIGHLIGHTS_MAX_MEDIA_HOURS": "0.001"}  # 3.6 s: less than the file's 6 s
    proc = detect([str(crafted["claims-5e7"])], tmp_path, env=env)
    assert proc.returncode == 2
    assert "more than the 0.001 h this installation accepts" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(MediaTooLong):
        for _ in iter_audio_chunks(crafted["claims-5e7"], chunk_s=1.0, max_s=2.5):
            pass


def test_a_bad_cap_setting_is_a_clear_error(crafted: dict[str, Path], tmp_path: Path) -> None:
    proc = detect([str(crafted["claims-5e7"])], tmp_path, env={**os.environ, "HIGHLIGHTS_MAX_MEDIA_HOURS": "lots"})
    assert proc.returncode == 2 and "HIGHLIGHTS_MAX_MEDIA_HOURS='lots' is not a positive number" in proc.stderr


def test_packets_that_jump_ahead_with_progress_bars_on_do_not_hang(crafted: dict[str, Path], tmp_path: Path) -> None:
    """Found by the chaos run: the decoder reported more seconds than the (measured) total, tqdm raised
    inside its lock in the read-ahead thread, and closing the bar then waited for that lock forever."""
    proc = detect([str(crafted["jump"])], tmp_path, quiet=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_audio_chunks_follow_the_stream_not_the_header(crafted: dict[str, Path]) -> None:
    chunks = list(iter_audio_chunks(crafted["claims-1e12"], chunk_s=30.0))
    assert sum(len(c) for c in chunks) == pytest.approx(6 * 16000, rel=0.02)
    assert all(c.dtype == np.float32 for c in chunks)
