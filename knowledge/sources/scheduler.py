"""Scheduled syncs, run by the worker role: every minute, each source whose next run has come is synced.

Any number of replicas may run this loop: a source's run is claimed in the database first (``store.claim``), so it
runs at most once at a time, and a replica that finds it claimed moves on. A failed run is recorded on the source
(its state, last error and failures, shown by ``threadwise sources list``, the dashboard and the logs) and is
retried sooner than the schedule, backing off.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from core.logging import get_logger
from knowledge.sources.service import Sources
from knowledge.sources.sync import SourceBusy

log = get_logger(__name__)

CHECK_EVERY_SECONDS = 60.0


async def run_scheduled_syncs(
    sources: Sources, stop: asyncio.Event, *, check_every: float = CHECK_EVERY_SECONDS
) -> None:
    """Sync due sources until ``stop`` is set; a run under way is finished first."""
    while not stop.is_set():
        try:
            due = await sources.due()
        except Exception as error:  # the database is down: look again next time
            log.warning("could not look for due sources", exc_info=error)
            due = []
        for tenant, name in due:
            if stop.is_set():
                break
            try:
                report = await sources.sync(tenant=tenant, name=name)
            except SourceBusy:
                continue  # another replica took it
            except Exception as error:
                log.error("scheduled sync failed", tenant=tenant, source=name, exc_info=error)
            else:
                if report.error:
                    log.error("scheduled sync failed", tenant=tenant, source=name, reason=report.error)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=check_every)
