"""``ahead``: how one ingest stage works on the next batch while the stage after it handles the last one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from knowledge.ingest import ahead


async def test_items_come_in_order_while_the_next_one_is_already_being_made() -> None:
    made: list[int] = []

    async def numbers() -> AsyncGenerator[int, None]:
        for number in range(5):
            made.append(number)
            yield number

    seen = []
    async for number in ahead(numbers()):
        await asyncio.sleep(0)  # the caller's own await: the producer gets a turn
        seen.append((number, made[-1]))
    assert [number for number, _ in seen] == [0, 1, 2, 3, 4]
    assert all(latest > number for number, latest in seen[:-1])


async def test_an_error_comes_after_the_items_made_before_it() -> None:
    async def failing() -> AsyncGenerator[int, None]:
        yield 1
        yield 2
        raise ValueError("the third one broke")

    got: list[int] = []

    async def consume() -> None:
        async for number in ahead(failing()):
            got.append(number)

    with pytest.raises(ValueError, match="the third one broke"):
        await consume()
    assert got == [1, 2]


async def test_closing_early_stops_the_producer_and_closes_its_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncGenerator[int, None]:
        try:
            number = 0
            while True:
                yield number
                number += 1
        finally:
            closed.set()

    stream = ahead(endless())
    assert await anext(stream) == 0
    await stream.aclose()
    assert closed.is_set()
    assert not [task for task in asyncio.all_tasks() if "ahead" in task.get_coro().__qualname__]  # type: ignore[union-attr]
