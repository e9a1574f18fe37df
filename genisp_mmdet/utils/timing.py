"""Timing helpers for benchmarks: interleaved repeats, so that slow drift in a machine's load
hits every variant alike, and medians."""
from __future__ import annotations

import gc
import resource
import statistics
import time
from typing import Callable, Dict, List, Optional


def interleaved(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                progress: Optional[Callable[[int], None]] = None,
                faults: Optional[Dict[str, List[int]]] = None) -> Dict[str, List[float]]:
    """Times every function ``warmup + repeats`` times, round-robin with the starting variant
    rotated each round; returns the timed (post-warm-up) seconds per name. With ``faults``,
    also appends each timed call's minor page faults to ``faults[name]``."""
    names = list(fns)
    times: Dict[str, List[float]] = {n: [] for n in names}
    for rnd in range(warmup + repeats):
        k = rnd % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            fns[name]()
            elapsed = time.perf_counter() - start
            if rnd >= warmup:
                times[name].append(elapsed)
                if faults is not None:
                    faults.setdefault(name, []).append(
                        resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before)
        if progress is not None:
            progress(rnd)
    return times


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
