"""Benchmark profiling: device time of torch kernels over wall time (``--profile``).

Consumes a callable (a stage's timed work) and whether CUDA is in use; produces its result, the
wall time inside the profiler and the summed *self* device time of the kernels torch ran: on CUDA
the GPU kernels and copies the profiler saw, on the CPU (``--device torch-cpu``) the self CPU time
of torch's operators. ``device_s / wall_s`` is the "GPU efficiency" figure: how much of the
stage's wall time the device spent computing. Stages that run no torch code report 0.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

from detector.errors import DeviceError


def require_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        raise DeviceError("--profile needs torch (its profiler times the kernels), and torch is not installed.",
                          hint="Install the `vision` extra (torch; README, Install), or run without --profile.")


def profiled(work: Callable[[], Any], cuda: bool) -> tuple[Any, dict[str, float | str]]:
    """Run ``work`` under ``torch.profiler``; return its result and the timing facts."""
    require_torch()
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        result = work()
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    device_us = 0.0
    for event in prof.events():
        if cuda:
            if event.device_type != DeviceType.CPU:
                device_us += float(event.self_device_time_total)
        elif event.device_type == DeviceType.CPU:
            device_us += float(event.self_cpu_time_total)
    device_s = device_us / 1e6
    facts: dict[str, float | str] = {
        "device_s": round(device_s, 6),
        "profiled_wall_s": round(wall, 6),
        "efficiency": round(device_s / wall, 6) if wall > 0 else 0.0,
        "device_kind": "cuda" if cuda else "cpu",
    }
    return result, facts
