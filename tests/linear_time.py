"""A guard against work that grows faster than its input, which holds on a slow or busy machine.

It compares a piece of work with itself at four times the size instead of with a clock: a machine that is twice as
slow is twice as slow at both sizes. Linear work grows about 4 times, quadratic about 16. The best of a few timings
is kept, since noise on a shared machine only ever adds time, and a floor keeps timer resolution out of it."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

GROWTH = 4
LINEAR_LIMIT = 8


def best_time(work: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        # The cyclic collector's pauses depend on what earlier tests left alive, not on this work: kept out.
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best


def assert_linear(work: Callable[[int], object], size: int, *, floor: float = 0.01, label: str = "") -> None:
    """`work(n)` does the job on an input of size n; its cost at GROWTH × size stays within LINEAR_LIMIT × its cost
    at size (or at the floor, in seconds, when that is smaller)."""
    small = best_time(lambda: work(size))
    large = best_time(lambda: work(GROWTH * size))
    assert large <= LINEAR_LIMIT * max(small, floor), (
        f"{label} size {size}: {small:.3f} s, size {GROWTH * size}: {large:.3f} s"
    )
