"""``highlights doctor``: what this machine can run — hardware, profile, Whisper, models, ffmpeg, signals.

Reads the hardware (``detector.models.hardware``), the Whisper plan (``detector.models``), the vision models
(``detector.models.vision_models`` when it is there), ffmpeg and its H.264 encoders (``detector.render.encode``:
listed, and whether a one-frame test encode works) and every signal's availability; prints a readable
report, or JSON with ``--json``. Exits 0 even when things are missing: it reports, it does not judge.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from detector.errors import DetectorError

SECTIONS = ("hardware", "profile", "whisper", "models", "ffmpeg", "encoders", "signals")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check hardware, models, ffmpeg and signals on this machine",
                       description="Report the hardware, the chosen profile and why, the Whisper backend, which "
                                   "models are present (and how to get the missing ones), ffmpeg's encoders and "
                                   "which signals can run.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--profile", help="report for this hardware profile instead of the detected one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = collect(getattr(args, "profile", None))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return 0


def _guarded(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (DetectorError, OSError, ImportError, RuntimeError, ValueError) as exc:
        return {"error": str(exc)}


def collect(profile: str | None = None) -> dict[str, Any]:
    """The whole report as plain data (one key per name in :data:`SECTIONS`)."""
    from detector.models.hardware import choose_profile, detect_hardware

    facts = detect_hardware()
    choice = _guarded(lambda: choose_profile(facts, profile))
    if isinstance(choice, dict):  # an unknown --profile or $HIGHLIGHTS_PROFILE
        choice = choose_profile(facts, "cpu")
        choice_error: str | None = "unknown profile requested; showing cpu"
    else:
        choice_error = None
    prof = choice.profile
    return {
        "hardware": asdict(facts),
        "profile": {**asdict(prof), "reason": choice.reason, "overridden": choice.overridden,
                    **({"error": choice_error} if choice_error else {})},
        "whisper": _guarded(lambda: _whisper(prof.name, facts)),
        "models": _guarded(lambda: _models(prof)),
        "ffmpeg": _guarded(_ffmpeg),
        "encoders": _guarded(_encoders),
        "signals": _guarded(lambda: _signals(prof.name)),
    }


def _whisper(profile: str, facts: Any) -> dict[str, Any]:
    from detector.models.whisper_plan import (
        bundled_whisper_dir,
        faster_whisper_missing,
        plan_whisper,
        transformers_missing,
    )

    plan = plan_whisper(profile=profile, facts=facts)
    missing = faster_whisper_missing() if plan.backend == "faster-whisper" else transformers_missing()
    bundled = plan.model_dir is not None and plan.model_dir == bundled_whisper_dir()
    return {"backend": plan.backend, "model": plan.model + (" (bundled tiny.en, English only)" if bundled else ""),
            "model_dir": str(plan.model_dir) if plan.model_dir else None, "device": plan.device,
            "compute_type": plan.compute_type, "available": not (missing or plan.problem),
            "reason": missing or plan.problem, "warnings": list(plan.warnings)}


def _models(prof: Any) -> list[dict[str, Any]]:
    """The profile's models: present or missing, where they go, how to get them."""
    from detector.models.whisper_plan import find_whisper_dir, get_hint, whisper_model_dir

    backend, size = prof.whisper_backend, prof.whisper_model
    found = find_whisper_dir(backend, size)
    rows = [{"role": f"whisper ({backend})", "name": size, "path": str(found or whisper_model_dir(backend, size)),
             "present": found is not None, "problem": None if found else "not downloaded",
             "get": None if found else get_hint(backend, size)}]
    for role, name in (("vision image-text", prof.vision_clip), ("vision captioner", prof.vision_captioner)):
        if name:
            rows.append(_vision_row(role, name))
    return rows


def _vision_row(role: str, name: str) -> dict[str, Any]:
    try:
        from detector.models.vision_catalog import model_path, model_problem
    except ImportError:
        return {"role": role, "name": name, "path": None, "present": False,
                "problem": "the vision models module is not installed", "get": None}
    path = model_path(name)
    problem = model_problem(path)
    return {"role": role, "name": name, "path": str(path), "present": problem is None, "problem": problem,
            "get": None if problem is None else f"highlights models download {name}"}


def _ffmpeg() -> dict[str, Any]:
    from detector.ffmpeg import ffmpeg_path, run_ffmpeg

    proc = run_ffmpeg(["-version"], timeout_s=30.0, what="asking ffmpeg its version")
    first = proc.stdout.decode("utf-8", "replace").splitlines()[0] if proc.stdout else ""
    return {"path": ffmpeg_path(), "version": first}


def _encoders() -> dict[str, Any]:
    from detector.render.encode import KNOWN_ENCODERS, choose_encoder, encoder_works, listed_encoders

    listed = listed_encoders()
    rows = [{"name": name, "listed": name in listed, "works": name in listed and encoder_works(name)}
            for name in KNOWN_ENCODERS]
    return {"encoders": rows, "auto": _guarded(lambda: choose_encoder("auto"))}


def _signals(profile: str) -> dict[str, dict[str, Any]]:
    from detector.signals.registry import registry
    from detector.signals.transcript import TranscriptOptions, TranscriptSignal

    out: dict[str, dict[str, Any]] = {}
    classes = dict(registry())
    classes.setdefault(TranscriptSignal.NAME, TranscriptSignal)
    for name, cls in sorted(classes.items()):
        if cls is TranscriptSignal:
            reason = _guarded(lambda: TranscriptSignal.unavailable_reason(TranscriptOptions(profile=profile)))
        else:
            reason = _guarded(cls.unavailable_reason)
        if isinstance(reason, dict):
            reason = reason["error"]
        out[name] = {"available": reason is None, "reason": reason}
    reason = _guarded(lambda: _vision_reason(profile))
    out["vision"] = {"available": reason is None, "reason": reason["error"] if isinstance(reason, dict) else reason}
    for name, check in (("segments", _segments_reason), ("scenes", _scenes_reason)):
        note = _guarded(check)  # these run either way, with less to go on
        out[name] = {"available": True, "reason": None, "note": note["error"] if isinstance(note, dict) else note}
    return out


def _vision_reason(profile: str) -> str | None:
    from detector.hybrid import HybridOptions, vision_models

    return vision_models(HybridOptions(profile=profile)).unavailable_reason()


def _segments_reason() -> str | None:
    from detector.media.faces import face_detection_unavailable

    reason = face_detection_unavailable()
    return f"runs without face areas: {reason}" if reason else None


def _scenes_reason() -> str | None:
    from detector.signals.scenes import exact_unavailable_reason

    reason = exact_unavailable_reason()
    return f"exact cuts fall back to ffmpeg's keyframe scene score: {reason}" if reason else None


def print_report(report: dict[str, Any], out: Any = None) -> None:
    """The report as aligned text."""
    out = out or sys.stdout

    def line(key: str, value: Any) -> None:
        print(f"  {key:<16} {value}", file=out)

    hw = report["hardware"]
    print("hardware", file=out)
    gpus = ", ".join(f"{g['name']} ({g['free_gb']:.1f} of {g['total_gb']:.1f} GB free)" for g in hw["gpus"])
    line("gpu", f"{hw['api']}: {gpus}" if gpus else f"none ({hw['note']})")
    line("cpu", f"{hw['cpu_cores']} cores, {hw['ram_gb']} GB RAM")
    line("torch", hw["torch_version"] or "not imported (no GPU device)")
    prof = report["profile"]
    print("profile", file=out)
    line("name", f"{prof['name']} ({prof['reason']})")
    line("about", prof["description"])
    _section(out, "whisper", report["whisper"], line, lambda w: [
        ("backend", w["backend"]), ("model", w["model"]), ("directory", w["model_dir"]),
        ("device", f"{w['device']} / {w['compute_type']}"),
        ("status", "ready" if w["available"] else f"unavailable: {w['reason']}"),
        *(("warning", text) for text in w["warnings"])])
    print("models", file=out)
    for row in report["models"] if isinstance(report["models"], list) else []:
        state = "present" if row["present"] else f"MISSING — get it: {row['get']}" if row["get"] else "MISSING"
        line(row["role"], f"{row['name']}: {state}")
    _section(out, "ffmpeg", report["ffmpeg"], line, lambda f: [("path", f["path"]), ("version", f["version"])])
    _section(out, "encoders", report["encoders"], line, lambda e: [
        *((r["name"], "works" if r["works"] else "listed, test encode fails" if r["listed"] else "not built in")
          for r in e["encoders"]), ("auto picks", e["auto"] if isinstance(e["auto"], str) else e["auto"].get("error"))])
    print("signals", file=out)
    for name, row in report["signals"].items() if isinstance(report["signals"], dict) else ():
        text = "available" if row["available"] else f"unavailable: {row['reason']}"
        line(name, f"{text} ({row['note']})" if row.get("note") else text)


def _section(out: Any, title: str, data: Any, line: Callable[[str, Any], None],
             rows: Callable[[Any], list[tuple[str, Any]]]) -> None:
    print(title, file=out)
    if isinstance(data, dict) and "error" in data and len(data) == 1:
        line("error", data["error"])
        return
    for key, value in rows(data):
        line(key, value)


def main(argv: list[str] | None = None) -> int:
    """Run ``doctor`` alone (``python -m highlights.cmd_doctor``), before ``highlights`` registers it."""
    parser = argparse.ArgumentParser(prog="highlights")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["doctor", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
