"""Timing helper shared by the benchmarks."""

from __future__ import annotations

import time


def best_of(repeat: int, function) -> tuple[float, object]:
    """Fastest wall time (s) of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - began)
    return min(times), result
