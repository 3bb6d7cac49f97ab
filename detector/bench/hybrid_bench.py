"""Benchmark stage (``highlights bench hybrid``): the full hybrid pipeline at several VOD lengths.

Consumes VOD lengths in minutes (default 30 and 60), a cache folder and the vision models folder;
makes (or reuses) one synthetic VOD per length (:mod:`detector.bench.hybrid_vod`: gameplay, talking
and menu stretches with speech, plus chat) and, when the ``cpu`` profile's image-text model is
missing, a random-weight model with its real architecture (:mod:`detector.bench.clip_random`: the
timing is real, the vision scores are not). Each length runs ``runs`` rounds (:mod:`detector.bench.rounds`),
each round three arms interleaved: the audio decode floor (ffmpeg decoding the sound to null), the
keyframe floor (ffmpeg decoding only the keyframes, scaled as the segmenter scales them, to null) and
``detect`` with the CPU profile — transcript of candidate windows, segments, vision, exact scenes — in a
fresh child process (:mod:`detector.bench.hybrid_child`). Produces a JSON-ready dict: per length the
median process wall time with its spread, the audio signal's ratio to the decode floor and the
segmenter's to the keyframe floor (per round, median and spread), each stage's median seconds and
share of the pipeline's total, the candidate windows each expensive stage
handled and peak memory; per stage the ratio of its time at the longest length to the shortest,
beside the ratio of the lengths (stages over the whole VOD should follow the length; transcript,
vision and snapping should stay near 1×, as they follow the number of candidates); and whether the
60-minute run met the target. :func:`format_hybrid_report` prints it with one column per length.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from detector.bench.clip_random import cpu_clip_name, is_random, random_clip
from detector.bench.hybrid_vod import hybrid_vod
from detector.bench.rounds import DEFAULT_ROUNDS, Spread, load_average, ratio_spread, run_rounds
from detector.errors import ConfigError, DetectorError, MediaError

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "highlights-bench-hybrid"
DEFAULT_MINUTES = (30.0, 60.0)
TARGET_MINUTES = 60.0
TARGET_WALL_S = 180.0
"""Target: a 60-minute VOD through the full hybrid pipeline (CPU profile) in at most 3 minutes."""
WHOLE_VOD = ("sources", "signal_chat", "signal_audio", "segments", "fusion", "rerank")
"""Stages whose work covers the whole VOD timeline (their cost follows its length)."""
PER_CANDIDATE = ("signal_transcript", "signal_vision", "snap")
"""Expensive stages that touch only candidate windows (their cost follows the candidates)."""
STAGES = ("sources", "signal_chat", "signal_audio", "segments", "fusion", "signal_transcript", "signal_vision",
          "rerank", "snap")
"""Every stage the pipeline times, in pipeline order."""
OTHER = "other"
"""The part of the total no stage timer covers (explanations, quotes, bookkeeping)."""
CHILD_TIMEOUT_S = 1800.0


def _say(out: TextIO | None, message: str) -> None:
    if out is not None:
        print(f"bench hybrid: {message}", file=out, flush=True)


def parse_lengths(text: str) -> tuple[float, ...]:
    """``"30,60"`` → ``(30.0, 60.0)``: at least two different lengths, in minutes, ascending."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--lengths {text!r} is not a list of minutes.", hint="Give e.g. --lengths 30,60.") from None
    return check_lengths(values)


def check_lengths(minutes: Sequence[float]) -> tuple[float, ...]:
    lengths = tuple(sorted(dict.fromkeys(float(m) for m in minutes)))
    if len(lengths) < 2:
        raise ConfigError("The hybrid bench needs two different VOD lengths to compare.",
                          hint="Give e.g. --lengths 30,60.")
    if lengths[0] < 1.0 or lengths[-1] > 600.0:
        raise ConfigError(f"VOD lengths {', '.join(f'{m:g}' for m in lengths)} are out of range.",
                          hint="Use 1 to 600 minutes.")
    return lengths


def _run_child(media: Path, chat: Path, models_dir: Path, settings: Mapping[str, float], profile: str,
               device: str, work: Path) -> dict[str, Any]:
    out = work / f"result-{media.stem}.json"
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "detector.bench.hybrid_child", "--media", str(media), "--chat", str(chat),
            "--models-dir", str(models_dir), "--out", str(out), "--settings", json.dumps(dict(settings)),
            "--profile", profile, "--device", device]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=CHILD_TIMEOUT_S, check=False,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except subprocess.TimeoutExpired:
        raise DetectorError(f"The hybrid bench run on {media.name} took over {CHILD_TIMEOUT_S:.0f} s.") from None
    wall = time.perf_counter() - t0
    if not out.is_file():
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-8:]
        raise DetectorError(f"The hybrid bench run on {media.name} failed (exit {proc.returncode}): " + " | ".join(tail))
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if "error" in result:
        raise DetectorError(f"The hybrid bench run on {media.name} failed: {result['error']}")
    result["wall_s"] = round(wall, 3)
    return result


ARMS = ("decode floor", "keyframe floor", "detect")
"""What each round runs, interleaved (see ``detector.bench.rounds``)."""


def floor_argvs(media: Path) -> dict[str, list[str]]:
    """The two floors' ffmpeg commands: the sound decoded as the audio signal decodes it, and only the
    keyframes decoded and scaled as the segmenter's picture pass does, both to the null muxer."""
    from detector.ffmpeg import ffmpeg_path
    from detector.signals.segment_pictures import FRAME_WIDTH
    from detector.sources.audio_stream import decode_floor_argv

    keys = [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-skip_frame", "nokey",
            "-i", str(media), "-map", "0:v:0", "-an", "-sn", "-vf", f"scale={FRAME_WIDTH}:-2:flags=area",
            "-fps_mode", "passthrough", "-f", "null", "-"]
    return {"decode floor": decode_floor_argv(media, 16000), "keyframe floor": keys}


def _time_floor(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=CHILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise MediaError(f"The bench floor failed (exit {proc.returncode}): "
                         f"{proc.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    return time.perf_counter() - t0


def _median_run(runs: Sequence[dict[str, Any]], floors: Mapping[str, list[float]]) -> dict[str, Any]:
    """One length's rounds as one result: median wall and stage times, the largest peaks, the ratios
    to the floors taken per round, and every round's numbers."""
    walls = [r["wall_s"] for r in runs]
    keys = sorted({k for r in runs for k in r["timings"]})
    timings = {k: Spread.of([float(r["timings"].get(k, 0.0)) for r in runs]).median for k in keys}
    audio = ratio_spread([float(r["timings"].get("signal_audio", 0.0)) for r in runs], floors["decode floor"])
    segments = ratio_spread([float(r["timings"].get("segments", 0.0)) for r in runs], floors["keyframe floor"])
    out = dict(runs[-1])
    out.update(wall_s=round(Spread.of(walls).median, 3), wall_spread=Spread.of(walls).as_dict(3), timings=timings,
               rss_kb=max(r.get("rss_kb") or 0 for r in runs),
               ffmpeg_rss_kb=max(r.get("ffmpeg_rss_kb") or 0 for r in runs),
               floors={k: Spread.of(v).as_dict(3) for k, v in floors.items()},
               x_floor={"signal_audio": audio.as_dict() if audio else None,
                        "segments": segments.as_dict() if segments else None},
               rounds=[{"wall_s": r["wall_s"], "timings": r["timings"]} for r in runs])
    return out


def _stage_rows(timings: Mapping[str, float]) -> dict[str, dict[str, float]]:
    total = float(timings.get("total") or 0.0)
    rows = {name: float(timings.get(name, 0.0)) for name in STAGES}
    rows[OTHER] = max(total - sum(rows.values()), 0.0)
    scale = sum(rows.values()) or 1.0
    return {name: {"s": round(s, 4), "share": round(s / scale, 4)} for name, s in rows.items()}


def _ratios(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first, last = runs[0], runs[-1]
    length = last["minutes"] / first["minutes"]

    def ratio(a: float, b: float) -> float | None:
        return round(b / a, 3) if a > 0 else None

    stages = {name: ratio(first["stages"][name]["s"], last["stages"][name]["s"]) for name in (*STAGES, OTHER)}
    expensive = [sum(r["stages"][n]["s"] for n in PER_CANDIDATE) for r in (first, last)]
    whole = [sum(r["stages"][n]["s"] for n in WHOLE_VOD) for r in (first, last)]
    counts = {k: ratio(first["counts"][k], last["counts"][k]) for k in first["counts"]}
    return {"between": [first["minutes"], last["minutes"]], "length": round(length, 3), "stages": stages,
            "per_candidate": ratio(*expensive), "whole_vod": ratio(*whole), "counts": counts,
            "expected": {**{n: 1.0 for n in PER_CANDIDATE}, **{n: round(length, 3) for n in WHOLE_VOD}}}


def run_hybrid_bench(minutes: Sequence[float] = DEFAULT_MINUTES, out: TextIO | None = None, *,
                     cache: str | Path | None = None, models_dir: str | Path | None = None,
                     settings: Mapping[str, float] | None = None, profile: str = "cpu",
                     device: str = "cpu", runs: int = DEFAULT_ROUNDS) -> dict[str, Any]:
    """Run the hybrid pipeline ``runs`` rounds per length (ascending), each round beside the two
    floors, and return the report (see the module).

    ``models_dir``: where the vision models are; None, or a folder without the ``cpu`` profile's
    image-text model, makes a random-weight one under ``cache``. ``settings``: parameter overrides.
    ``out``: where progress lines go (None: nowhere).
    """
    lengths = check_lengths(minutes)
    cache = Path(cache) if cache is not None else DEFAULT_CACHE
    settings = dict(settings or {})
    models = Path(models_dir) if models_dir is not None else cache / "models"
    from detector.models.vision_catalog import model_problem

    clip = models / cpu_clip_name()
    if profile == "cpu" and model_problem(clip) is not None:
        models = cache / "models"
        _say(out, f"no {cpu_clip_name()} in {clip.parent}: using a random-weight one in {models}")
        clip = random_clip(models)
    random_weights = is_random(clip)
    rounds = runs
    runs = []
    for m in lengths:
        vod = hybrid_vod(cache / "vods", m, say=lambda msg: _say(out, msg))
        _say(out, f"{m:g} min: detect (transcript, segments, vision, scenes; {profile} profile) beside the "
                  f"decode and keyframe floors, {rounds} round{'s' if rounds != 1 else ''} ...")
        load = load_average()
        argvs = floor_argvs(vod.media_path)

        def one(arm: str, index: int, m: float = m, vod: Any = vod, argvs: dict[str, list[str]] = argvs) -> Any:
            if arm in argvs:
                seconds = _time_floor(argvs[arm])
                _say(out, f"{m:g} min, round {index + 1}/{rounds}: {arm} {seconds:.1f} s")
                return seconds
            got = _run_child(vod.media_path, vod.chat_path, models, settings, profile, device, cache)
            _say(out, f"{m:g} min, round {index + 1}/{rounds}: detect {got['wall_s']:.1f} s wall")
            return got

        arms = run_rounds(ARMS, rounds, one)
        result = _median_run(arms["detect"], {k: arms[k] for k in ARMS if k != "detect"})
        result.update(minutes=m, load_1m=load, load_1m_after=load_average(), cpus=os.cpu_count(),
                      stages=_stage_rows(result["timings"]), vod=str(vod.media_path), speech=vod.speech,
                      tile_s=vod.tile_s)
        runs.append(result)
    target = next((r for r in runs if r["minutes"] == TARGET_MINUTES), None)
    return {
        "lengths": list(lengths), "profile": profile, "device": device, "settings": settings,
        "models_dir": str(models), "vision_model": cpu_clip_name() if profile == "cpu" else None,
        "random_vision_weights": random_weights, "rounds": rounds, "runs": runs, "ratios": _ratios(runs),
        "target": {"minutes": TARGET_MINUTES, "wall_s": TARGET_WALL_S,
                   "measured_s": target["wall_s"] if target else None,
                   "met": (target["wall_s"] <= TARGET_WALL_S) if target else None},
    }


# --- report ------------------------------------------------------------------------------------

_LABELS = {"sources": "sources (probe, chat)", "signal_chat": "chat signal", "signal_audio": "audio signal",
           "segments": "segments (keyframes, VAD)", "fusion": "fusion, 1st pass", "signal_transcript": "transcript",
           "signal_vision": "vision", "rerank": "fusion, 2nd pass", "snap": "snap (exact scenes)", OTHER: "other"}


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def _range(spread: Mapping[str, Any] | None, unit: str, fmt: str, median: bool = False) -> str:
    """``min–max`` of a spread dict (with the median first when asked), ``-`` without one."""
    if not spread:
        return "-"
    span = f"{format(spread['min'], fmt)}–{format(spread['max'], fmt)}{unit}"
    if not median:
        return span
    head = f"{format(spread['median'], fmt)}{unit}"
    return head if spread["n"] < 2 else f"{head} ({span.removesuffix(unit)})"


def _mb(kb: int | None) -> str:
    return "-" if not kb else f"{kb / 1024:.0f} MB"


def format_hybrid_report(report: Mapping[str, Any]) -> str:
    """The report as a table: one column per VOD length, then the ratio of the longest to the shortest."""
    runs, ratios = report["runs"], report["ratios"]
    a, b = ratios["between"]
    heads = [f"{r['minutes']:g} min" for r in runs]
    ratio_head = f"{b:g}/{a:g} min"
    width = 28
    lines = []
    model = report.get("vision_model") or "the profile's vision model"
    weights = ("RANDOM weights with the real architecture: the vision timing is real, its scores are meaningless"
               if report.get("random_vision_weights") else "its real weights")
    first = runs[0]
    lines.append(f"Hybrid pipeline, {report['profile']} profile on {report['device']}; vision: {model}, {weights}.")
    rounds = report.get("rounds", 1)
    lines.append(f"{rounds} round{'s' if rounds != 1 else ''} per length, each: decode floor, keyframe floor, detect "
                 "(interleaved); times are medians, ratios to a floor are per round: median (min–max).")
    lines.append(f"VODs: synthetic gameplay/talking/menu stretches (speech: {first['speech']}), a "
                 f"{first['tile_s']:g} s rendered tile repeated by stream copy; chat bursts over the whole length.")
    if report.get("settings"):
        lines.append("Overrides: " + ", ".join(f"{k}={v}" for k, v in report["settings"].items()))
    lines.append("")
    lines.append(f"{'':<{width}}" + "".join(f"{h:>20}" for h in heads) + f"{ratio_head:>12}  expected")

    def row(label: str, cells: Sequence[str], ratio: str = "", expected: str = "") -> None:
        lines.append(f"{label:<{width}}" + "".join(f"{c:>20}" for c in cells) + f"{ratio:>12}  {expected}".rstrip())

    wall_ratio = runs[-1]["wall_s"] / runs[0]["wall_s"] if runs[0]["wall_s"] else None
    row("wall (process, with imports)", [f"{r['wall_s']:.1f} s" for r in runs], _fmt_ratio(wall_ratio))
    row("  spread over the rounds", [_range(r.get("wall_spread"), " s", ".1f") for r in runs])
    row("decode floor (ffmpeg alone)", [_range(r.get("floors", {}).get("decode floor"), " s", ".1f", True) for r in runs])
    row("keyframe floor (ffmpeg alone)", [_range(r.get("floors", {}).get("keyframe floor"), " s", ".1f", True)
                                          for r in runs])
    row("audio signal × decode floor", [_range(r.get("x_floor", {}).get("signal_audio"), "×", ".2f", True) for r in runs])
    row("segments × keyframe floor", [_range(r.get("x_floor", {}).get("segments"), "×", ".2f", True) for r in runs])
    total = [float(r["timings"].get("total", 0.0)) for r in runs]
    row("pipeline total", [f"{t:.1f} s" for t in total], _fmt_ratio(total[-1] / total[0] if total[0] else None))
    for name in (*STAGES, OTHER):
        cells = [f"{r['stages'][name]['s']:.2f} s {100 * r['stages'][name]['share']:5.1f} %" for r in runs]
        expected = ""
        if name in PER_CANDIDATE:
            expected = "≈ 1× (candidates)"
        elif name in WHOLE_VOD:
            expected = f"≈ {ratios['length']:g}× (length)"
        row(f"  {_LABELS[name]}", cells, _fmt_ratio(ratios["stages"][name]), expected)
    row("  transcript+vision+snap", [f"{sum(r['stages'][n]['s'] for n in PER_CANDIDATE):.2f} s "
                                     f"{100 * sum(r['stages'][n]['share'] for n in PER_CANDIDATE):5.1f} %" for r in runs],
        _fmt_ratio(ratios["per_candidate"]), "≈ 1×")
    row("  whole-VOD stages", [f"{sum(r['stages'][n]['s'] for n in WHOLE_VOD):.2f} s "
                               f"{100 * sum(r['stages'][n]['share'] for n in WHOLE_VOD):5.1f} %" for r in runs],
        _fmt_ratio(ratios["whole_vod"]), f"≈ {ratios['length']:g}×")
    c = [r["counts"] for r in runs]
    row("candidates transcribed", [f"{x['transcribed_spans']} ({x['transcribed_s']:.0f} s)" for x in c],
        _fmt_ratio(ratios["counts"]["transcribed_spans"]))
    row("candidates scored (vision)", [f"{x['vision_windows']} ({x['vision_frames']} fr)" for x in c],
        _fmt_ratio(ratios["counts"]["vision_windows"]))
    row("edge windows scanned (cuts)", [f"{x['scene_windows']} ({x['scene_cuts']})" for x in c],
        _fmt_ratio(ratios["counts"]["scene_windows"]))
    for label, stage, key, scale, unit in (
            ("  transcript per audio min", "signal_transcript", "transcribed_s", 60.0, "s/min"),
            ("  vision per window", "signal_vision", "vision_windows", 1.0, "s/win"),
            ("  snap per edge window", "snap", "scene_windows", 1.0, "s/win")):
        per = [r["stages"][stage]["s"] / (x[key] / scale) if x[key] else None for r, x in zip(runs, c)]
        row(label, ["-" if v is None else f"{v:.2f} {unit}" for v in per],
            _fmt_ratio(per[-1] / per[0] if per[0] and per[-1] is not None else None), "≈ 1×")
    row("clips / segments", [f"{r['clips']} / {x['segments']}" for r, x in zip(runs, c)])
    row("load average at start", [f"{r['load_1m']:.1f} on {r['cpus']} CPUs" if r.get("load_1m") is not None else "-"
                                  for r in runs])
    row("peak RSS (ffmpeg)", [f"{_mb(r.get('rss_kb'))} ({_mb(r.get('ffmpeg_rss_kb'))})" for r in runs])
    gone = sorted({k for r in runs for k in r.get("unavailable", {})})
    if gone:
        lines.append("unavailable: " + "; ".join(f"{k}: {runs[-1]['unavailable'].get(k) or runs[0]['unavailable'].get(k)}"
                                                 for k in gone))
    lines.append(f"ratio of lengths: {ratios['length']:g}×; the expensive stages (transcript, vision, snap) took "
                 f"{_fmt_ratio(ratios['per_candidate'])}, the whole-VOD stages {_fmt_ratio(ratios['whole_vod'])}.")
    t = report["target"]
    if t["measured_s"] is None:
        lines.append(f"target: a {t['minutes']:g}-minute VOD in ≤ {t['wall_s']:g} s wall: not measured (no such length).")
    else:
        verdict = "MET" if t["met"] else "MISSED"
        lines.append(f"target: a {t['minutes']:g}-minute VOD in ≤ {t['wall_s']:g} s wall: {t['measured_s']:.1f} s — {verdict}.")
    return "\n".join(lines)
