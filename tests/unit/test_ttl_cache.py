"""The in-process cache behind channel settings and the first-run check: fresh for its TTL, bounded."""

from __future__ import annotations

import pytest

from core.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_fresh_for_its_ttl_then_read_again() -> None:
    clock = Clock()
    cache: TtlCache[str, bool] = TtlCache(10.0, clock=clock)
    cache.put("T1", False)  # a falsy value is a value, not a miss
    clock.now += 9.9
    assert cache.get("T1") is False
    clock.now += 0.1
    assert cache.get("T1") is None


def test_it_forgets_a_key_on_demand_and_everything_past_its_bound() -> None:
    cache: TtlCache[int, str] = TtlCache(60.0, most=3)
    for key in range(3):
        cache.put(key, str(key))
    cache.put(2, "again")  # a key it holds is replaced, not counted twice
    assert [cache.get(key) for key in range(3)] == ["0", "1", "again"]
    cache.forget(1)
    assert cache.get(1) is None
    cache.put(1, "1")
    cache.put(3, "3")  # the fourth key: the rest are forgotten
    assert [cache.get(key) for key in range(4)] == [None, None, None, "3"]


def test_a_negative_ttl_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl must not be negative"):
        TtlCache(-1.0)
