"""Queue benchmark report: the ``highlights bench queue`` table and its JSON form.

Consumes a ``QueueBenchReport`` (``detector.bench.queue_bench``); produces the printed table — one
column per backend: enqueue→claim latency (median, p95), enqueue rate, claim+complete rate, the time
from SIGKILL to the job running again beside the ≤ 30 s target, lost/duplicated jobs — with a note
for a skipped backend and a last line totalling lost and duplicated jobs over the run; and a
JSON-ready dict with the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from detector.bench.queue_bench import RECOVERY_TARGET_S, BackendResult, QueueBenchReport, median, percentile
from detector.bench.queue_databases import Skipped

LABEL_WIDTH = 38
COLUMN_WIDTH = 12


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _rows(report: QueueBenchReport) -> list[tuple[str, Callable[[BackendResult], str]]]:
    opts = report.options
    return [
        ("enqueue→claim median (ms)", lambda r: f"{1000 * median(r.latencies_s):.1f}"),
        ("enqueue→claim p95 (ms)", lambda r: f"{1000 * percentile(r.latencies_s, 95):.1f}"),
        ("enqueue rate (jobs/s)", lambda r: f"{_rate(opts.jobs, r.enqueue_s):.1f}"),
        (f"claim+complete, {opts.workers} workers (jobs/s)", lambda r: f"{_rate(opts.jobs, r.drain_s):.1f}"),
        ("SIGKILL → running again (s)", lambda r: f"{r.recovery_s:.1f}"),
        (f"recovery target ≤ {RECOVERY_TARGET_S:g} s",
         lambda r: "met" if r.recovery_s <= RECOVERY_TARGET_S else "NOT met"),
        ("lost / duplicated", lambda r: f"{r.lost} / {r.duplicated}"),
    ]


def format_table(report: QueueBenchReport) -> str:
    opts = report.options
    lease_from = "--lease" if opts.lease_s is not None else "storage.queue.timeouts default"
    lines = [
        (f"highlights bench queue: {opts.jobs} jobs, {opts.workers} worker processes, lease {report.lease_s:g} s "
         f"({lease_from}), heartbeat {report.heartbeat_s:g} s, poll interval {opts.idle_s:g} s, "
         f"{opts.samples} latency samples; {os.cpu_count()} CPUs"),
        "",
        " " * LABEL_WIDTH + "".join(f"{r.backend:>{COLUMN_WIDTH}}" for r in report.results),
    ]
    for label, cell in _rows(report):
        cells = "".join(f"{'-' if isinstance(r, Skipped) else cell(r):>{COLUMN_WIDTH}}" for r in report.results)
        lines.append(f"{label:<{LABEL_WIDTH}}{cells}")
    lines.append("")
    lines.append(f"recovery: the worker is SIGKILLed right after its claim, so the whole {report.lease_s:g} s lease "
                 f"runs out (the worst case); then up to {report.heartbeat_s:g} s until a worker's stalled-job scan")
    for r in report.results:
        if isinstance(r, Skipped):
            lines.append(f"{r.backend}: skipped: {r.reason}")
        else:
            lines.append(f"{r.backend}: {r.where}")
    measured = [r for r in report.results if isinstance(r, BackendResult)]
    lines.append(f"lost {sum(r.lost for r in measured)}, duplicated {sum(r.duplicated for r in measured)} "
                 f"({sum(r.jobs for r in measured)} jobs, completions counted per job id)")
    return "\n".join(lines)


def to_json(report: QueueBenchReport) -> dict[str, Any]:
    opts = report.options
    backends: dict[str, Any] = {}
    for r in report.results:
        if isinstance(r, Skipped):
            backends[r.backend] = {"skipped": r.reason}
            continue
        backends[r.backend] = {
            "where": r.where,
            "jobs": r.jobs,
            "latency_ms": {"median": 1000 * median(r.latencies_s), "p95": 1000 * percentile(r.latencies_s, 95),
                           "samples": [1000 * s for s in r.latencies_s]},
            "enqueue_per_s": _rate(opts.jobs, r.enqueue_s),
            "claim_complete_per_s": _rate(opts.jobs, r.drain_s),
            "recovery_s": r.recovery_s,
            "recovery_target_met": r.recovery_s <= RECOVERY_TARGET_S,
            "lost": r.lost,
            "duplicated": r.duplicated,
        }
    return {
        "options": {"jobs": opts.jobs, "samples": opts.samples, "workers": opts.workers, "idle_s": opts.idle_s,
                    "lease_s": report.lease_s, "lease_from": "option" if opts.lease_s is not None else "default",
                    "heartbeat_s": report.heartbeat_s},
        "recovery_target_s": RECOVERY_TARGET_S,
        "backends": backends,
    }
