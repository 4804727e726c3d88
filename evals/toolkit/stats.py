"""Summary statistics of measured samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

LATENCY_PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation, as numpy's default."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_percentiles(samples: Sequence[float], *, digits: int = 1) -> dict[str, float]:
    """p50, p95 and p99 of ``samples``."""
    return {f"p{q}": round(percentile(samples, q), digits) for q in LATENCY_PERCENTILES}


def rate(hits: int, total: int) -> float:
    """``hits / total`` to four places; 0 when there is nothing to count."""
    return round(hits / total, 4) if total else 0.0


def mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def unique_in_order(items: Sequence[str]) -> list[str]:
    """Chunk hits → document ranking: each document at the rank of its best chunk."""
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
