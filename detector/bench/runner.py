"""Benchmark runner: one child process per stage and round, results gathered into a ``BenchReport``.

Consumes :class:`BenchOptions` (length, device, profiling, cache folder, rounds); produces a
:class:`BenchReport`: per stage the wall time of every round (the floor and the stages run
interleaved, ``runs`` rounds, see :mod:`detector.bench.rounds`), its median, its ratio to the floor
of the same round summarised as median (min–max), peak RSS (the child's own and its ffmpeg's, the
largest over the rounds), the media seconds it covered, and with ``--profile`` the device/wall
efficiency from a second, profiled run of the stages that compute with the array backend; plus the
in-memory kernel timing, the recall of planted events, the estimated chat lag and the machine's load
before and after. Progress goes to the ``say`` callback.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import detector
from detector.bench.accuracy import Recall, planted_recall
from detector.bench.rounds import DEFAULT_ROUNDS, Spread, load_average, ratio_spread, run_rounds
from detector.bench.vod import DEFAULT_CACHE, cached_vod
from detector.errors import ConfigError, DetectorError
from detector.synthetic.vod import SyntheticVod

log = logging.getLogger(__name__)

STAGE_LABELS: dict[str, str] = {
    "floor": "floor: ffmpeg decode -> null",
    "decode": "decode to pipe (our reader)",
    "audio": "audio signal (decode+features)",
    "chat_parse": "chat parse (load_chat)",
    "chat_signal": "chat signal",
    "fusion": "fusion + candidates",
    "detect": "detect end to end (audio+chat)",
}
"""The table's rows."""
RUN_ORDER = ("floor", "detect", "decode", "audio", "chat_parse", "chat_signal", "fusion")
"""The order a round runs them in (backward every other round): the headline stage, detect, right beside
the floor in every round; later stages read earlier stages' hand-offs, so the first round runs forward."""
PROFILED = ("audio", "chat_signal", "fusion", "detect", "kernel")
"""Stages that compute with the array backend, so the profiler has something to see."""
CHILD_BASE_TIMEOUT_S = 300.0
CHILD_TIMEOUT_PER_MEDIA_S = 3.0


class BenchError(DetectorError):
    """A benchmark stage's child process failed."""

    code = "bench_error"


@dataclass(frozen=True)
class BenchOptions:
    minutes: float = 60.0
    device: str = "auto"
    profile: bool = False
    keep: Path | None = None
    """Folder that keeps the generated VOD between runs (default: a folder in the temp dir)."""
    chat_format: str = "jsonl"
    repeats: int = 7
    """Kernel timing repetitions (the median is reported)."""
    runs: int = DEFAULT_ROUNDS
    """Rounds: every stage and the floor run once per round, interleaved (medians and spreads)."""


@dataclass
class StageResult:
    name: str
    label: str
    wall_s: float
    """The median over the rounds."""
    media_s: float
    rss_mb: float
    """Peak RSS of the Python process running the stage (0 for the floor: only ffmpeg runs)."""
    ffmpeg_rss_mb: float
    """Peak RSS of the stage's largest child process (ffmpeg), 0 when it started none."""
    base_rss_mb: float
    """Peak RSS after imports and untimed setup, before the timed work."""
    facts: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    walls: list[float] = field(default_factory=list)
    """Wall time of each round, in round order."""

    @property
    def total_rss_mb(self) -> float:
        return self.rss_mb + self.ffmpeg_rss_mb

    @property
    def realtime(self) -> float:
        return self.media_s / self.wall_s if self.wall_s > 0 else float("inf")


@dataclass
class BenchReport:
    options: BenchOptions
    device: str
    """The device actually used, as ``backend:device`` (e.g. ``numpy:cpu``)."""
    vod: SyntheticVod
    stages: list[StageResult]
    kernel: StageResult
    recall: Recall
    chat: dict[str, Any]
    """Chat facts: messages, format, estimated and planted lag."""
    load: tuple[float | None, float | None] = (None, None)
    """The 1-minute load average before the first round and after the last."""

    def stage(self, name: str) -> StageResult:
        return next(s for s in self.stages if s.name == name)

    def floor_spread(self, name: str) -> Spread | None:
        """The stage's per-round ratio to the floor of the same round: median (min–max)."""
        return ratio_spread(self.stage(name).walls, self.stage("floor").walls)

    def floor_ratio(self, name: str) -> float:
        spread = self.floor_spread(name)
        return spread.median if spread is not None else float("inf")


def resolve_device(device: str, profile: bool) -> str:
    """The device the children get. Profiling needs torch: ``auto`` becomes the GPU or torch-cpu."""
    from detector.compute import gpu_present

    if not profile:
        return device
    from detector.bench.profiling import require_torch

    require_torch()
    if device == "cpu":
        raise ConfigError("--profile times torch kernels, but --device cpu computes with numpy.",
                          hint="Use --device torch-cpu (or cuda, or auto).")
    if device == "auto":
        return "cuda" if gpu_present() else "torch-cpu"
    return device


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(detector.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def run_child(stage: str, vod: SyntheticVod, work: Path, device: str, top_k: int, repeats: int,
              profile: bool = False) -> dict[str, Any]:
    """Run one stage in a fresh Python process and return its JSON result."""
    out = work / f"{stage}{'.profile' if profile else ''}.json"
    argv = [sys.executable, "-m", "detector.bench.stage", stage, "--media", str(vod.media_path),
            "--chat", str(vod.chat_path), "--work", str(work), "--out", str(out), "--device", device,
            "--top-k", str(top_k), "--duration", f"{vod.duration_s:.3f}", "--repeats", str(repeats)]
    if profile:
        argv.append("--profile")
    timeout = CHILD_BASE_TIMEOUT_S + CHILD_TIMEOUT_PER_MEDIA_S * vod.duration_s
    log.debug("bench child: %s", argv)
    with tempfile.TemporaryFile() as output:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                  timeout=timeout, env=_child_env(), check=False)
        except subprocess.TimeoutExpired:
            raise BenchError(f"The benchmark stage {stage!r} took longer than {timeout:.0f} s.") from None
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    if text.strip():
        log.debug("stage %s printed:\n%s", stage, text.strip())
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = "\n".join(text.strip().splitlines()[-8:]) or "(no output)"
        raise BenchError(f"The benchmark stage {stage!r} failed (exit {proc.returncode}): {tail}") from None
    if "error" in data:
        raise BenchError(f"The benchmark stage {stage!r} failed: {data['error']}")
    return data


def _result(name: str, label: str, rounds: list[dict[str, Any]], media_s: float) -> StageResult:
    """One stage's rounds: the median wall time, every round's, and the largest peaks."""
    walls = [float(d["wall_s"]) for d in rounds]
    return StageResult(name=name, label=label, wall_s=Spread.of(walls).median, media_s=media_s,
                       rss_mb=max(d["rss_kb"] for d in rounds) / 1024.0,
                       ffmpeg_rss_mb=max(d["ffmpeg_rss_kb"] for d in rounds) / 1024.0,
                       base_rss_mb=max(d["base_rss_kb"] for d in rounds) / 1024.0,
                       facts=rounds[-1].get("facts") or {}, walls=walls)


def run_bench(opts: BenchOptions, say: Callable[[str], None] = lambda _m: None) -> BenchReport:
    from detector.compute import select_backend

    device = resolve_device(opts.device, opts.profile)
    backend = select_backend(device)
    vod = cached_vod(opts.keep or DEFAULT_CACHE, opts.minutes, chat_format=opts.chat_format, say=say)
    top_k = max(len(vod.events), 1)
    names = list(RUN_ORDER)
    results: dict[str, StageResult] = {}
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="highlights-bench-run-") as tmp:
        work = Path(tmp)

        def one(name: str, index: int) -> dict[str, Any]:
            data = run_child(name, vod, work, device, top_k, opts.repeats)
            say(f"round {index + 1}/{opts.runs}: {STAGE_LABELS[name]}: {float(data['wall_s']):.2f} s")
            return data

        rounds = run_rounds(names, opts.runs, one)
        for name in names:
            results[name] = _result(name, STAGE_LABELS[name], rounds[name], vod.duration_s)
        say("kernel RMS+z+peaks ...")
        data = run_child("kernel", vod, work, device, top_k, opts.repeats)
        results["kernel"] = _result("kernel", "kernel RMS+z+peaks", [data],
                                    float(data["facts"].get("audio_s", vod.duration_s)))
        if opts.profile:
            for name in PROFILED:
                say(f"profiling {results[name].label} ...")
                data = run_child(name, vod, work, device, top_k, opts.repeats, profile=True)
                results[name].profile = data.get("profile")
    detect_facts = results["detect"].facts
    recall = planted_recall(vod.events, detect_facts.get("candidates", []), top_k)
    chat = {
        "messages": results["chat_parse"].facts.get("messages"),
        "format": results["chat_parse"].facts.get("format"),
        "lag_estimated_s": detect_facts.get("chat_lag_s"),
        "lag_source": detect_facts.get("chat_lag_source"),
        "lag_correlation": detect_facts.get("chat_lag_correlation"),
        "lag_planted_s": vod.chat_lag_s,
    }
    return BenchReport(options=opts, device=f"{backend.name}:{backend.device}", vod=vod,
                       stages=[results[n] for n in STAGE_LABELS], kernel=results["kernel"], recall=recall,
                       chat=chat, load=(load_before, load_average()))
