"""The collections a search looked up, reused for a moment (knowledge/collection_cache.py)."""

from __future__ import annotations

import pytest

from knowledge import collection_cache
from knowledge.collection_cache import CollectionCache
from knowledge.models import Collection


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def collection(name: str) -> Collection:
    return Collection(id=1, tenant="t", name=name, embedding_model="local", dims=384)


def test_a_lookup_is_reused_until_it_is_stale_whatever_the_order_of_the_names() -> None:
    clock = Clock()
    cache, found = CollectionCache(fresh_for=2.0, clock=clock), [collection("a"), collection("b")]
    cache.put("t", ["b", "a"], found, generation=cache.generation)
    clock.now += 1.9
    assert cache.get("t", ["a", "b", "a"]) is found
    assert cache.get("t", None) is None and cache.get("other", ["a", "b"]) is None
    clock.now += 0.1
    assert cache.get("t", ["a", "b"]) is None


def test_a_lookup_that_ran_across_a_clear_is_not_kept() -> None:
    """The collections changed while it ran: it may have read them as they were before."""
    cache = CollectionCache()
    started = cache.generation
    cache.clear()
    cache.put("t", None, [collection("a")], generation=started)
    assert cache.get("t", None) is None
    cache.put("t", None, [collection("a")], generation=cache.generation)
    assert cache.get("t", None) is not None


def test_clearing_and_a_zero_freshness_keep_nothing() -> None:
    cache = CollectionCache()
    cache.put("t", None, [collection("a")], generation=cache.generation)
    cache.clear()
    assert cache.get("t", None) is None
    never = CollectionCache(fresh_for=0)
    never.put("t", None, [collection("a")], generation=never.generation)
    assert never.get("t", None) is None
    with pytest.raises(ValueError, match="negative"):
        CollectionCache(fresh_for=-1)


def test_a_full_cache_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collection_cache, "MAX_ENTRIES", 2)
    cache = CollectionCache()
    for tenant in ("t1", "t2", "t3"):
        cache.put(tenant, None, [collection("a")], generation=cache.generation)
    assert cache.get("t1", None) is None and cache.get("t3", None) is not None
