"""pgqueuer's queries, with a failed job's retry written even across a database restart.

A job that fails because the database went away (a restart, a failover) is retried by pgqueuer, which first
writes the retry to that same database. When that write fails too, pgqueuer records the job as failed for good:
the question is never answered. Here the write is tried again until the database is back (within a bound).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

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


class DurableRetryQueries(Queries):
    async def retry_job(
        self, job: models.Job, delay: timedelta, traceback_record: models.TracebackRecord | None
    ) -> None:
        deadline = time.monotonic() + RETRY_WRITE_WITHIN_SECONDS
        warned = False
        while True:
            try:
                await super().retry_job(job, delay, traceback_record)
                return
            except UNREACHABLE as error:
                if time.monotonic() >= deadline:
                    raise
                if not warned:
                    log.warning(
                        "database unreachable: the job's retry is written once it is back",
                        job_id=job.id,
                        exc_info=error,
                    )
                    warned = True
            await asyncio.sleep(RETRY_WRITE_EVERY_SECONDS)
