"""Natural batching: one call alone goes at once; calls made while a batch runs go together in the next."""

from __future__ import annotations

import asyncio

import pytest

from core.batching import Batcher, BatchSizeError


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def double(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.release.wait()
        return [2 * item for item in items]


async def test_a_call_alone_is_processed_at_once() -> None:
    recorder = Recorder()
    assert await Batcher(recorder.double).submit(21) == 42
    assert recorder.batches == [[21]]


async def test_calls_made_while_a_batch_runs_go_together_in_the_next() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder.double, max_size=3)
    recorder.release.clear()
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)  # the first batch starts and waits on the "database"
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.submit(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    assert recorder.batches == [[1]]
    recorder.release.set()
    assert await first == 2 and await asyncio.gather(*rest) == [4, 6, 8, 10, 12]
    assert recorder.batches == [[1], [2, 3, 4], [5, 6]]  # at most max_size each, in arrival order
    assert batcher.batches == 3


async def test_a_failing_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def flaky(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return [item.upper() for item in items]

    batcher = Batcher(flaky)
    results = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    assert await batcher.submit("c") == "C"


async def test_a_batch_that_returns_the_wrong_number_of_results_is_an_error() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = Batcher(short)
    with pytest.raises(BatchSizeError, match="1 results for a batch of 2"):
        await asyncio.gather(batcher.submit(1), batcher.submit(2))


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(Recorder().double, max_size=0)
