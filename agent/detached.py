"""Answers that finish even when their reader leaves.

An HTTP client that disconnects in the middle of a streamed answer cancels whatever reads the stream. Were the
answer read there, it would stop unsaved: the model call paid for, and the follow-up without its context. So the
answer runs in a task of its own, which stores the turn as always, and the reader only takes its events from a
queue. Shutting down (``aclose``) gives such answers a while to finish, then cancels them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from core.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

GRACE_SECONDS = 20.0
"""How long shutting down waits for answers still running (within Kubernetes' default 30 s to stop a pod)."""


class DetachedRuns:
    """Runs streams in tasks that outlive their readers; ``aclose`` lets them finish, for a while."""

    def __init__(self, *, grace_seconds: float = GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def stream(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        """``source``'s items, produced by a task that goes on to the end if this iterator is closed or cancelled."""
        items: asyncio.Queue[tuple[T] | None] = asyncio.Queue()  # unbounded: an answer is a few kB at most
        task = asyncio.create_task(_pump(source, items))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        try:
            while (item := await items.get()) is not None:
                yield item[0]
            await asyncio.shield(task)  # raises what the source raised; shielded: a leaving reader does not stop it
        finally:
            if not task.done():
                log.info("the reader left; the answer goes on in the background")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("an answer running in the background failed", exc_info=error)

    async def aclose(self) -> None:
        """Wait up to ``grace_seconds`` for the answers still running, then cancel the rest."""
        if not self._tasks:
            return
        log.info("waiting for answers still running", count=len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.grace_seconds)
        if pending:
            log.warning("answers still running at shutdown are cancelled", count=len(pending))
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=self.grace_seconds)


async def _pump(source: AsyncIterator[T], items: asyncio.Queue[tuple[T] | None]) -> None:
    try:
        async for item in source:
            items.put_nowait((item,))
    finally:
        items.put_nowait(None)  # the end, also when the source failed or was cancelled


async def holding(hold: AbstractAsyncContextManager[object], source: AsyncIterator[T]) -> AsyncIterator[T]:
    """``source``'s items, with ``hold`` entered for as long as they are produced: a resource the answer needs
    (a tenant's answer slot) stays taken while the answer runs, also after its reader left."""
    async with hold:
        async for item in source:
            yield item
