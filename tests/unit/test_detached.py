"""Streams that outlive their readers (``agent.detached``): what a disconnected HTTP client leaves running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent.detached import DetachedRuns


async def counting(upto: int, done: list[int], *, pause: float = 0.01) -> AsyncIterator[int]:
    for number in range(upto):
        await asyncio.sleep(pause)
        yield number
    done.append(upto)


async def test_the_reader_gets_every_item_in_order() -> None:
    runs, done = DetachedRuns(), list[int]()
    assert [n async for n in runs.stream(counting(5, done))] == [0, 1, 2, 3, 4]
    assert done == [5]


async def test_a_reader_that_is_cancelled_leaves_the_stream_running_to_its_end() -> None:
    runs, done = DetachedRuns(), list[int]()

    async def read_one() -> None:
        async for _ in runs.stream(counting(20, done)):
            await asyncio.Event().wait()  # a client that stops reading, then disconnects

    reader = asyncio.create_task(read_one())
    await asyncio.sleep(0.05)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert runs.running == 1 and done == []
    await runs.aclose()  # shutting down waits for it
    assert done == [20] and runs.running == 0


async def test_shutting_down_cancels_what_outlasts_the_grace_period() -> None:
    runs, done = DetachedRuns(grace_seconds=0.1), list[int]()

    async def read_all() -> list[int]:
        return [n async for n in runs.stream(counting(1, done, pause=3600))]

    reader = asyncio.create_task(read_all())
    await asyncio.sleep(0.05)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await asyncio.wait_for(runs.aclose(), timeout=5)
    assert runs.running == 0 and done == []


async def test_a_failing_stream_fails_its_reader() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("the source broke")

    runs = DetachedRuns()
    seen: list[int] = []

    async def read_all() -> None:
        async for number in runs.stream(failing()):
            seen.append(number)

    with pytest.raises(ValueError, match="the source broke"):
        await read_all()
    assert seen == [1]
