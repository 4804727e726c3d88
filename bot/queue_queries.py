"""The queue's writes across a database restart: pgqueuer's queries with a failed job's retry written once the
database is back, and the acceptance of new questions tried again for as long as a platform waits for its ack.

A job that fails because the database went away (a restart, a failover) is retried by pgqueuer, which first
writes the retry to that same database. When that write fails too, pgqueuer records the job as failed for good:
the question is never answered. Here the write is tried again until the database is back (within a bound).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]
from pgqueuer.domain import models
from pgqueuer.queries import Queries

from core.logging import get_logger

log = get_logger(__name__)

UNREACHABLE = (
    OSError,  # refused, reset, the server's socket gone
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
)
"""What a statement raises while the database is out of reach."""
RETRY_WRITE_WITHIN_SECONDS = 120.0
RETRY_WRITE_EVERY_SECONDS = 1.0
ACCEPT_WITHIN_SECONDS = 2.0
"""How long storing new questions keeps trying while the database is out of reach: Slack waits 3 s for its ack
(and sends the event again later when none came), so a restart of a second or two costs a delay, not a retry."""
FIRST_PAUSE_SECONDS = 0.05

Result = TypeVar("Result")


async def within_reach(
    operation: Callable[[], Awaitable[Result]], *, within: float, longest_pause: float, waiting_for: str
) -> Result:
    """``operation()``, tried again while the database is out of reach, pausing 0.05 s, then twice as long each
    time up to ``longest_pause``, for at most ``within`` seconds; then its error is raised. One warning, at the
    first failure, says what is ``waiting_for`` the database. Only for operations that may run twice (a statement
    that committed just before the connection broke runs again)."""
    deadline = time.monotonic() + within
    pause = FIRST_PAUSE_SECONDS
    warned = False
    while True:
        try:
            return await operation()
        except UNREACHABLE as error:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            if not warned:
                log.warning(
                    "database unreachable: trying again until it is back", waiting_for=waiting_for, exc_info=error
                )
                warned = True
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, longest_pause)


class DurableRetryQueries(Queries):
    async def retry_job(
        self, job: models.Job, delay: timedelta, traceback_record: models.TracebackRecord | None
    ) -> None:
        write = super().retry_job
        await within_reach(
            lambda: write(job, delay, traceback_record),
            within=RETRY_WRITE_WITHIN_SECONDS,
            longest_pause=RETRY_WRITE_EVERY_SECONDS,
            waiting_for=f"the retry of job {job.id} is written",
        )
