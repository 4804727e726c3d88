"""Work on one key runs one at a time in arrival order; different keys run side by side; no lock is kept."""

from __future__ import annotations

import asyncio

from core.keyed_locks import KeyedLocks


async def test_one_key_in_arrival_order_other_keys_alongside() -> None:
    locks = KeyedLocks()
    done: list[str] = []

    async def work(key: str, name: str, seconds: float) -> None:
        async with locks.hold(key):
            await asyncio.sleep(seconds)  # a slower first write must still land first
            done.append(name)

    await asyncio.gather(work("alice", "👍", 0.05), work("alice", "👎", 0.0), work("bob", "bob", 0.0))

    assert done == ["bob", "👍", "👎"]
    assert len(locks) == 0


async def test_a_failure_releases_the_key() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("k"):
            raise ValueError("boom")
    except ValueError:
        pass
    async with asyncio.timeout(1):
        async with locks.hold("k"):
            pass
    assert len(locks) == 0
