"""Scheduled syncs: what one process does when the schedule says to look for due sources.

The worker role's schedule (``bot/source_schedule.py``) calls :meth:`ScheduledSyncs.start` on one replica each
minute; that replica runs the due sources one after another, in the background, until none is due. Each is taken
in the database first (``store.take_due``): however many replicas run syncs, a scheduled run is taken once, and a
source runs at most once at a time (``store.claim``, which manual syncs share). A failed run is recorded on the
source (its state, last error and failures, shown by ``threadwise sources list``, the dashboard, ``doctor``,
``/metrics`` and the logs) and retried sooner than its schedule, backing off. A run that died with its process
shows as running until it has not beaten for ``STALE_RUN``; the next schedule then records it failed and runs it
again.

Nothing here knows the scheduler that calls it: a process without one may call :meth:`ScheduledSyncs.run_due`.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from core.db import session_scope
from core.logging import get_logger
from knowledge.errors import KnowledgeError
from knowledge.sources.service import Sources
from knowledge.sources.store import DueSource, claim, finish, take_due
from knowledge.sources.sync import SourceBusy

log = get_logger(__name__)


class ScheduledSyncs:
    """This process's scheduled syncs: one at a time, in a background task, stopped with a grace period."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self._task: asyncio.Task[int] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Sync the due sources in the background, unless this process is at it already: then it looks for more
        once its current run is over. Returns at once, so that a long run holds up no schedule."""
        if self._stopping or self.running:
            return
        self._task = asyncio.create_task(self.run_due(), name="threadwise-source-syncs")

    async def run_due(self) -> int:
        """Run the due sources one after another until none is left (or stopping); how many this process ran."""
        ran = 0
        while not self._stopping:
            try:
                async with session_scope(self.sources.knowledge.sessionmaker) as session:
                    due = await take_due(session)
            except Exception as error:  # the database is down: the next schedule looks again
                log.warning("could not look for due sources", exc_info=error)
                break
            if due is None:
                break
            if await self._run(due):
                ran += 1
        return ran

    async def stop(self, grace: float | None) -> None:
        """Start no other run; let the one under way finish for ``grace`` seconds (None: however long it takes),
        then cancel it (the source then shows the run as cut short, and its next run completes it)."""
        self._stopping = True
        if self._task is None:
            return
        with suppress(TimeoutError, asyncio.CancelledError):  # wait_for has cancelled it
            await asyncio.wait_for(self._task, timeout=grace)

    async def _run(self, due: DueSource) -> bool:
        """Sync ``due``; False when it did not run at all."""
        if due.died:
            log.warning("the source's last run died unfinished; running it again", tenant=due.tenant, source=due.name)
        try:
            await self.sources.sync(tenant=due.tenant, name=due.name)  # logs and records how the run went
        except SourceBusy:  # a manual run (the command line, the dashboard) got there first
            return False
        except KnowledgeError as error:  # before the run: its kind or settings are not usable here
            log.warning("scheduled sync could not start", tenant=due.tenant, source=due.name, reason=str(error))
            await self._record_failure(due, str(error))
            return False
        except Exception as error:
            log.error("scheduled sync failed", tenant=due.tenant, source=due.name, exc_info=error)
        return True

    async def _record_failure(self, due: DueSource, reason: str) -> None:
        """Show why the source could not run where people look, and back it off like any failure."""
        try:
            async with session_scope(self.sources.knowledge.sessionmaker) as session:
                if await claim(session, due.id):  # False when it was removed, or another run started meanwhile
                    await finish(session, due.id, error=reason[:500])
        except Exception as error:
            log.warning("could not record why the source did not run", source=due.name, exc_info=error)
