"""Benchmark stage (``highlights bench``): speed, memory and recall of the detector's stages.

Consumes a cached synthetic VOD (:mod:`detector.bench.vod`); runs each stage in a fresh child
process (:mod:`detector.bench.stage`, bodies in :mod:`detector.bench.stages`) so its peak RSS is
its own; the parent (:mod:`detector.bench.runner`) collects wall time, peak RSS, optional torch
profiler device time (:mod:`detector.bench.profiling`) and the recall of planted events
(:mod:`detector.bench.accuracy`); :mod:`detector.bench.report` prints the table.
Importing this package imports nothing heavy.
"""

from __future__ import annotations
