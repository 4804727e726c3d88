"""Natural batching: calls that arrive while a batch is being processed wait and go together in the next one.

One call alone is processed at once, so nothing waits when the system is quiet; under load each round trip (a
database transaction, a model run) serves many callers, which is where the time went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class BatchSizeError(RuntimeError):
    """A batch's processing returned a different number of results than it was given items."""


class Batcher(Generic[Item, Result]):
    """``await batcher.submit(item)`` returns ``process([..., item, ...])``'s result for ``item``.

    ``process`` gets at most ``max_size`` items and returns one result per item, in order; when it raises, every
    caller in that batch gets the error. One batch runs at a time. A caller that stops waiting does not take its
    item out of a batch already being processed.
    """

    def __init__(self, process: Callable[[list[Item]], Awaitable[Sequence[Result]]], *, max_size: int = 100) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self.process = process
        self.max_size = max_size
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches processed so far (for tests and metrics)."""

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if self._runner is None or self._runner.done() or self._runner.get_loop() is not loop:
            # Runs on the loop's next turn: calls made in this turn join the first batch.
            self._runner = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.max_size]
            del self._waiting[: self.max_size]
            self.batches += 1
            try:
                results = await self.process([item for item, _ in batch])
                if len(results) != len(batch):
                    raise BatchSizeError(f"{len(results)} results for a batch of {len(batch)}")
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            except BaseException:  # cancelled (shutting down): nothing more is processed
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting.clear()
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
