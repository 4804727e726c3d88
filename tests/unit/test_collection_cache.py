"""The collections a search looked up, reused for a moment (knowledge/collection_cache.py)."""

from __future__ import annotations

import pytest

from knowledge import collection_cache
from knowledge.collection_cache import CollectionCache
from knowledge.errors import UnknownCollectionError
from knowledge.models import Collection


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Lookups:
    """Stands in for the database lookup: counts its calls, returns a new list each time."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> list[Collection]:
        self.calls += 1
        return [Collection(id=self.calls, tenant="t", name="a", embedding_model="local", dims=384)]


async def test_a_lookup_is_reused_until_it_is_stale_whatever_the_order_of_the_names() -> None:
    clock, load = Clock(), Lookups()
    cache = CollectionCache(fresh_for=2.0, clock=clock)
    found = await cache.get_or_load("t", ["b", "a"], load)
    clock.now += 1.9
    assert await cache.get_or_load("t", ["a", "b", "a"], load) is found and load.calls == 1
    assert await cache.get_or_load("t", None, load) is not found and load.calls == 2
    assert await cache.get_or_load("other", ["a", "b"], load) is not found and load.calls == 3
    clock.now += 0.1
    assert await cache.get_or_load("t", ["a", "b"], load) is not found and load.calls == 4


async def test_a_lookup_that_ran_across_a_clear_is_not_kept() -> None:
    """The collections changed while it ran: it may have read them as they were before."""
    cache, load = CollectionCache(), Lookups()

    async def load_while_they_change() -> list[Collection]:
        found = await load()
        cache.clear()
        return found

    await cache.get_or_load("t", None, load_while_they_change)
    await cache.get_or_load("t", None, load)
    assert load.calls == 2
    await cache.get_or_load("t", None, load)
    assert load.calls == 2


async def test_a_failed_lookup_is_not_kept() -> None:
    cache, load = CollectionCache(), Lookups()

    async def unknown() -> list[Collection]:
        raise UnknownCollectionError("t", ["nope"])

    with pytest.raises(UnknownCollectionError):
        await cache.get_or_load("t", ["nope"], unknown)
    await cache.get_or_load("t", ["nope"], load)
    assert load.calls == 1


async def test_clearing_and_a_zero_freshness_keep_nothing() -> None:
    cache, load = CollectionCache(), Lookups()
    await cache.get_or_load("t", None, load)
    cache.clear()
    await cache.get_or_load("t", None, load)
    assert load.calls == 2
    never, load = CollectionCache(fresh_for=0), Lookups()
    for _ in range(2):
        await never.get_or_load("t", None, load)
    assert load.calls == 2
    with pytest.raises(ValueError, match="negative"):
        CollectionCache(fresh_for=-1)


async def test_a_full_cache_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collection_cache, "MAX_ENTRIES", 2)
    cache, load = CollectionCache(), Lookups()
    for tenant in ("t1", "t2", "t3"):
        await cache.get_or_load(tenant, None, load)
    await cache.get_or_load("t3", None, load)
    assert load.calls == 3  # t3 kept
    await cache.get_or_load("t1", None, load)
    assert load.calls == 4  # t1 forgotten when the cache started afresh
