"""The worker role's schedule of source syncs, on pgqueuer's scheduler.

One cron entry, ``sync_sources`` every minute, kept in pgqueuer's ``pgqueuer_schedules`` table (migration 0005).
Each tick is taken by one replica: the row is locked, marked picked and moved on to the next minute in one
statement, and a replica that stops beating for 30 seconds while holding it loses it to another. The replica that
takes a tick starts syncing the due sources in the background (``knowledge/sources/scheduler.py``) and lets the
tick go at once, so that while it syncs a long source the next ticks go to replicas with nothing to do.

pgqueuer spreads the ticks; the guarantees are the database's, and hold whoever holds a tick: a scheduled run is
taken once (``store.take_due``), a source runs once at a time (``store.claim``), and a run that died with its
process is taken over once it is stale.

The schedule keeps its own small pool (the worker role runs it even with no chat platform, hence no job queue)
and starts over a few seconds after losing the database.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from pgqueuer.models import Schedule
from pgqueuer.sm import SchedulerManager
from sqlalchemy.engine import URL

from bot.queue import JobQueue
from core.health import describe_connection_error
from core.logging import get_logger
from core.settings import DatabaseSettings
from knowledge.sources.scheduler import ScheduledSyncs
from knowledge.sources.service import Sources

log = get_logger(__name__)

SYNC_SOURCES_ENTRYPOINT = "sync_sources"
EVERY_MINUTE = "* * * * *"
RESTART_DELAY = 5.0
"""Seconds before a schedule that lost the database starts over."""


class SourceSchedule:
    """Sync the due sources on the cluster's schedule; :meth:`stop` lets a run under way finish for a while."""

    def __init__(
        self,
        sources: Sources,
        url: URL,
        *,
        database: DatabaseSettings | None = None,
        expression: str = EVERY_MINUTE,
    ) -> None:
        """``url``: the database's SQLAlchemy URL. ``expression``: the cron expression of the ticks (a sixth field
        counts seconds); sources are synced no more often than their own interval whatever it says."""
        self.syncs = ScheduledSyncs(sources)
        self.url = url
        self.database = database
        self.expression = expression
        self.restart_delay = RESTART_DELAY
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="threadwise-source-schedule")

    async def stop(self, grace: float) -> None:
        """Take no more ticks; give the run under way ``grace`` seconds, then cancel it (the source shows the run
        cut short, and its next run completes it)."""
        self._stop.set()
        await asyncio.gather(self._end_schedule(grace), self.syncs.stop(grace))

    async def _end_schedule(self, grace: float) -> None:
        if self._task is not None:
            # It ends when it next wakes, at once: a tick only starts the syncs, so none is left half-done.
            with suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=grace)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                async with await JobQueue.connect(self.url, role="scheduler", database=self.database) as queue:
                    await self._take_ticks(queue)
            except (OSError, TimeoutError) as error:  # unreachable: /readyz says so too
                log.warning(
                    "source schedule waiting for the database",
                    reason=describe_connection_error(error),
                    retry_in_seconds=self.restart_delay,
                )
            except Exception as error:
                if self._stop.is_set():
                    break
                log.error(
                    "source schedule interrupted; starting over", exc_info=error, retry_in_seconds=self.restart_delay
                )
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.restart_delay)

    async def _take_ticks(self, queue: JobQueue) -> None:
        manager = SchedulerManager(queue.queries())

        @manager.schedule(SYNC_SOURCES_ENTRYPOINT, self.expression)
        async def sync_due_sources(schedule: Schedule) -> None:
            self.syncs.start()

        async def stop_when_asked() -> None:
            await self._stop.wait()
            manager.shutdown.set()

        stopper = asyncio.create_task(stop_when_asked())
        log.info("source schedule started", expression=self.expression)
        try:
            await manager.run()
        finally:
            stopper.cancel()
            with suppress(asyncio.CancelledError):
                await stopper
