"""The durable job queue between the platform listeners and the workers, in PostgreSQL (pgqueuer).

A listener turns a platform payload into a :class:`ChatEvent`, calls :meth:`JobQueue.enqueue` and returns at
once; a worker (``bot/worker.py``) answers the job. An event is accepted once, ever: the platform and its event id
go into ``processed_events`` in the same statement as the job, so a retried delivery (Slack resends events it
thinks were missed) is recognised even after its first job finished, and a crash cannot record an event without
its job. The row then keeps the job's progress (the message the answer is being written into, the reply once
written, when it was delivered) so that a retried or re-run job neither asks the agent twice nor posts twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple, Self

import asyncpg  # type: ignore[import-untyped]
from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder, QuerySchedulerBuilder
from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
from pgqueuer.domain.settings import DBSettings, Durability
from pgqueuer.queries import Queries
from sqlalchemy.engine import URL

from agent.memory import link_answer_sql
from agent.schemas import AnswerReply
from bot.events import ChatEvent
from bot.follow_ups import FOLLOW_UP_WINDOW
from bot.queue_driver import ListenApartDriver
from bot.queue_queries import ACCEPT_WITHIN_SECONDS, DurableRetryQueries, within_reach
from core.batching import Batcher
from core.logging import get_logger
from core.settings import DatabaseSettings

log = get_logger(__name__)

ANSWER_ENTRYPOINT = "answer"
"""The pgqueuer entrypoint of a question's job; its payload is the ``ChatEvent`` as JSON."""

ACCEPT_BATCH = 200
"""At most this many events per statement when many arrive at once."""

PROCESSED_RETENTION = timedelta(days=7)
"""How long an accepted event is remembered; platforms retry for minutes, never for days."""

# Jobs not finished yet: waiting (possibly for a retry) or being answered.
_UNFINISHED = "status IN ('queued', 'picked')"
QUEUE_DEPTH_SQL = f"SELECT count(*) FROM pgqueuer WHERE {_UNFINISHED}"  # noqa: S608 (constants)
"""Questions waiting or being answered: ``/metrics``' ``threadwise_queue_depth``, and what KEDA scales the workers on
(``deploy/kubernetes/components/keda``: the same query, held equal by a test)."""

_ACCEPT = """
WITH recorded AS (
    INSERT INTO processed_events (platform, event_id, received_at)
    SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING platform, event_id
),
queued AS (
    INSERT INTO pgqueuer (priority, entrypoint, payload, execute_after, dedupe_key, headers, status)
    SELECT 0, $6::text, event.payload, now(), event.dedupe_key, 'null'::jsonb, 'queued'
    FROM unnest($1::varchar[], $2::varchar[], $4::bytea[], $5::text[]) WITH ORDINALITY
        AS event(platform, event_id, payload, dedupe_key, arrived)
    JOIN recorded USING (platform, event_id)
    ORDER BY event.arrived
    ON CONFLICT (dedupe_key) WHERE status IN ('queued', 'picked') AND dedupe_key IS NOT NULL DO NOTHING
    RETURNING id, entrypoint, priority, dedupe_key
),
logged AS (
    INSERT INTO pgqueuer_log (job_id, status, entrypoint, priority)
    SELECT id, 'queued', entrypoint, priority FROM queued
)
SELECT dedupe_key FROM queued
"""
"""Store new events and queue a job for each in one statement (one round trip, atomic without BEGIN and COMMIT).

The job and its log line are what pgqueuer's own ``Queries.enqueue`` writes (a test compares the two), the jobs
in the order the events arrived. The dedupe key's unique index (``status IN ('queued', 'picked')``) catches an
event whose ``processed_events`` row was pruned while its job still waited: still a duplicate, so no second job
(its row is stored again, ``runs`` from 0). pgqueuer's trigger wakes the workers once per statement, even one
that queued nothing (a batch of retried deliveries only); they find no new job and wait again.
"""


def pgqueuer_settings() -> DBSettings:
    """pgqueuer's object names exactly as migration 0005 created them, whatever ``PGQUEUER_*`` variables say."""
    return DBSettings(
        prefix="",
        db_schema=None,
        channel="ch_pgqueuer",
        function="fn_pgqueuer_changed",
        statistics_table="pgqueuer_statistics",
        queue_status_type="pgqueuer_status",
        queue_table="pgqueuer",
        queue_table_log="pgqueuer_log",
        trigger="tg_pgqueuer_changed",
        schedules_table="pgqueuer_schedules",
        durability=Durability.durable,
    )


# A delivered answer in a thread lets its asker follow up there without a mention (``bot/follow_ups.py``): the
# thread is recorded in the same statement as the delivered mark.
_THREAD_ANSWERED = (
    "INSERT INTO answered_threads (tenant, platform, channel, thread, asker)"
    " SELECT $3::varchar, $1::varchar, $4::varchar, $5::varchar, $6::varchar WHERE $5::varchar <> ''"
    " ON CONFLICT (tenant, platform, channel, thread)"
    " DO UPDATE SET asker = EXCLUDED.asker, answered_at = now(), others_since = 0"
)
_MARK_DELIVERED = "UPDATE processed_events SET delivered_at = now() WHERE platform = $1 AND event_id = $2"
_DELIVERED = f"WITH answered AS ({_THREAD_ANSWERED}) {_MARK_DELIVERED}"
# The answer's link to its post is agent's SQL (``messages`` is agent's table), in the same statement as the
# delivered mark: both or neither. Its expressions are this module's bind parameters, nothing from outside.
_DELIVERED_AND_LINKED = (
    f"WITH answered AS ({_THREAD_ANSWERED}), "
    f"linked AS ({link_answer_sql(answer_id='$7::bigint', posted_as='$8::varchar')}) {_MARK_DELIVERED}"
)


def asyncpg_dsn(url: URL) -> str:
    """asyncpg's DSN for one of our SQLAlchemy URLs: the plain ``postgresql://`` form, query kept.

    The query carries what asyncpg understands itself, e.g. the embedded server's ``?host=/socket/dir&port=…``.
    """
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _release_as_is(connection: Any) -> None:
    """What asyncpg's pool runs on a connection it takes back, after rolling back an open transaction and dropping
    its listener callbacks.

    Its default runs ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``: a round trip that every
    ``pool.execute`` waits for, three times per answer. Nothing on this pool leaves that state behind: the
    queue's statements take no session locks, open no cursors and change no settings, and the one connection
    that LISTENs is pgqueuer's, which it resets itself before giving it back.
    """


def dedupe_key(event: ChatEvent) -> str:
    return f"{event.platform}:{event.event_id}"


@dataclass(frozen=True, slots=True)
class JobProgress:
    """What earlier runs of an event's job already did."""

    reply: AnswerReply | None = None
    """The agent's reply, when an earlier run got that far (deliver it rather than ask again)."""
    delivered: bool = False
    """The reply was posted: nothing is left to do."""
    runs: int = 0
    """Times a worker started this event's job, counting the run that asked (retries and takeovers alike)."""
    placeholder_id: str | None = None
    """The platform's id of the message an earlier run began showing the answer in: edit it, post no other."""


class Pruned(NamedTuple):
    """What one ``JobQueue.prune`` deleted."""

    events: int
    log_lines: int
    threads: int = 0
    """Answered threads past the follow-up window."""


class JobQueue:
    """Enqueue questions, report the backlog, and keep each event's progress; over an asyncpg pool."""

    def __init__(self, pool: Any, *, listen_pool: Any | None = None, listens: bool = True) -> None:
        self.pool: Any = pool
        """The ``asyncpg.Pool`` (asyncpg ships no type information)."""
        self.listen_pool: Any | None = listen_pool
        """Direct connections to PostgreSQL for LISTEN when ``pool`` goes through a transaction pooler."""
        self.listens = listens or listen_pool is not None
        """Whether workers hear of new questions at once (LISTEN); False: they poll (``QUEUE_POLL_INTERVAL``)."""
        self.db_settings = pgqueuer_settings()
        self._accepting: Batcher[ChatEvent, bool] = Batcher(self._accept_within_reach, max_size=ACCEPT_BATCH)

    @classmethod
    async def connect(cls, url: URL, *, role: str = "queue", database: DatabaseSettings | None = None) -> Self:
        """A queue with its own pool on ``url`` (a SQLAlchemy URL as ``core.db.resolve_database_url`` gives)."""
        database = database or DatabaseSettings()
        application = {"application_name": f"threadwise-{role}"}
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            # A worker holds one connection for LISTEN; its queries need at least one more. Listeners enqueue
            # one short statement per batch of events: bursts should not wait for a connection.
            min_size=1,
            max_size=max(database.pool_size * 2, 3),
            timeout=database.connect_timeout,
            server_settings=application,
            reset=_release_as_is,
            # Behind a transaction pooler, unnamed statements only (see core.db._without_statement_caches).
            statement_cache_size=0 if database.pooled_per_transaction else 100,
        )
        listen_url = database.listen_url_for(url)
        listen_pool = None
        if listen_url is not None and database.listen_url is not None:
            # Opened when a worker first LISTENs: web replicas only enqueue and never use it.
            listen_pool = await asyncpg.create_pool(
                asyncpg_dsn(listen_url),
                min_size=0,
                max_size=2,
                timeout=database.connect_timeout,
                server_settings=application,
            )
        return cls(pool, listen_pool=listen_pool, listens=listen_url is not None)

    async def close(self) -> None:
        await self.pool.close()
        if self.listen_pool is not None:
            await self.listen_pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def queries(self, driver: AsyncpgDriver | AsyncpgPoolDriver | None = None) -> Queries:
        """pgqueuer's queries on our pinned object names, over a fresh driver on the pool unless given one.

        Fresh, because a pool driver keeps its LISTEN connection even after losing it; a worker that starts over
        needs a new one.
        """
        settings = self.db_settings
        if driver is None:
            apart = self.listen_pool is not None or not self.listens
            driver = ListenApartDriver(self.pool, self.listen_pool) if apart else AsyncpgPoolDriver(self.pool)
        return DurableRetryQueries(
            driver,
            qbe=QueryBuilderEnvironment(settings),
            qbq=QueryQueueBuilder(settings),
            qbs=QuerySchedulerBuilder(settings),
        )

    async def enqueue(self, event: ChatEvent) -> bool:
        """Accept ``event`` for answering: True when it is new, False when it was already accepted (ever).

        Events that arrive while a statement is storing others are stored together in the next one: under a
        burst, one commit serves many events instead of each waiting for its own.
        """
        return await self._accepting.submit(event)

    async def _accept_within_reach(self, events: list[ChatEvent]) -> list[bool]:
        """``enqueue_many``, tried again through a database restart of up to ``ACCEPT_WITHIN_SECONDS``. Accepting
        is idempotent: a batch stored just before its connection broke reads as already accepted the second time
        (its jobs are queued all the same)."""
        return await within_reach(
            lambda: self.enqueue_many(events),
            within=ACCEPT_WITHIN_SECONDS,
            longest_pause=ACCEPT_WITHIN_SECONDS,
            waiting_for=f"{len(events)} new questions are stored",
        )

    async def enqueue_many(self, events: list[ChatEvent]) -> list[bool]:
        """Accept ``events`` in one statement; per event, True when it is new (the first of a repeated id)."""
        firsts: dict[tuple[str, str], int] = {}
        for index, event in enumerate(events):
            firsts.setdefault((event.platform, event.event_id), index)
        fresh = [events[i] for i in firsts.values()]
        keys = [dedupe_key(e) for e in fresh]
        rows = await self.pool.fetch(
            _ACCEPT,
            [e.platform for e in fresh],
            [e.event_id for e in fresh],
            [e.received_at for e in fresh],
            [e.model_dump_json().encode() for e in fresh],
            keys,
            ANSWER_ENTRYPOINT,
        )
        queued_keys = {row["dedupe_key"] for row in rows}
        queued = {(e.platform, e.event_id) for e, key in zip(fresh, keys, strict=True) if key in queued_keys}
        return [
            (e.platform, e.event_id) in queued and firsts[(e.platform, e.event_id)] == i for i, e in enumerate(events)
        ]

    async def depth(self) -> int:
        """Jobs not finished yet: waiting (for a worker or a retry) or being answered."""
        count = await self.pool.fetchval(QUEUE_DEPTH_SQL)
        return int(count)

    async def oldest_age_seconds(self) -> float | None:
        """Age of the oldest unfinished job, in seconds; None when there is none."""
        age = await self.pool.fetchval(
            f"SELECT extract(epoch FROM now() - min(created)) FROM pgqueuer WHERE {_UNFINISHED}"  # noqa: S608
        )
        return None if age is None else float(age)

    async def drop_queued(self, platform: str, team_id: str) -> int:
        """Delete a workspace's questions still waiting for a worker (a retry included), logged as pgqueuer logs
        its own deletions; returns how many. For a Slack workspace that uninstalled the app: no answer could be
        posted. ``team_id`` matches the job's ``delivery["team_id"]``, or its ``delivery["enterprise_id"]`` (an
        org-wide install); jobs being answered now are left to their worker."""
        count = await self.pool.fetchval(
            """
            WITH dropped AS (
                DELETE FROM pgqueuer
                WHERE status = 'queued' AND entrypoint = $1 AND convert_from(payload, 'UTF8')::jsonb @> ANY (ARRAY[
                    jsonb_build_object('platform', $2::text, 'delivery', jsonb_build_object('team_id', $3::text)),
                    jsonb_build_object('platform', $2::text, 'delivery', jsonb_build_object('enterprise_id', $3::text))
                ])
                RETURNING id, entrypoint, priority
            ),
            logged AS (
                INSERT INTO pgqueuer_log (job_id, status, entrypoint, priority)
                SELECT id, 'deleted', entrypoint, priority FROM dropped
            )
            SELECT count(*) FROM dropped
            """,
            ANSWER_ENTRYPOINT,
            platform,
            team_id,
        )
        return int(count)

    async def uncount_attempt(self, job_id: int) -> None:
        """Take back one of a running job's attempts, just before it asks pgqueuer to run it later
        (``RetryRequested``, which counts one): a job that waits its turn has not failed."""
        await self.pool.execute("UPDATE pgqueuer SET attempts = attempts - 1 WHERE id = $1", job_id)

    async def progress(self, event: ChatEvent) -> JobProgress:
        """What earlier runs of the event's job did."""
        return await self._progress(
            "SELECT reply, delivered_at, runs, placeholder_id FROM processed_events"
            " WHERE platform = $1 AND event_id = $2",
            event,
        )

    async def start_run(self, event: ChatEvent) -> JobProgress:
        """Count a run of the event's job (a first run, a retry, or a takeover after a crash) and return what the
        earlier runs did, in one statement."""
        return await self._progress(
            "UPDATE processed_events SET runs = runs + 1 WHERE platform = $1 AND event_id = $2 "
            "RETURNING reply, delivered_at, runs, placeholder_id",
            event,
        )

    async def _progress(self, query: str, event: ChatEvent) -> JobProgress:
        row = await self.pool.fetchrow(query, event.platform, event.event_id)
        if row is None:
            return JobProgress()
        reply = None if row["reply"] is None else AnswerReply.model_validate_json(row["reply"])
        return JobProgress(
            reply=reply,
            delivered=row["delivered_at"] is not None,
            runs=int(row["runs"]),
            placeholder_id=row["placeholder_id"],
        )

    async def save_reply(self, event: ChatEvent, reply: AnswerReply) -> None:
        """Keep the agent's reply until it is delivered, so a retry posts it instead of asking again."""
        await self.pool.execute(
            "UPDATE processed_events SET reply = $3::jsonb WHERE platform = $1 AND event_id = $2",
            event.platform,
            event.event_id,
            reply.model_dump_json(),
        )

    async def save_placeholder(self, event: ChatEvent, placeholder_id: str) -> None:
        """Remember the message the answer is being written into, so a run retaken after a crash edits it."""
        await self.pool.execute(
            "UPDATE processed_events SET placeholder_id = $3 WHERE platform = $1 AND event_id = $2",
            event.platform,
            event.event_id,
            placeholder_id,
        )

    async def request_stop(self, *, platform: str, event_id: str) -> bool:
        """Ask the worker writing the event's answer to end it where it is; False when there is nothing to stop
        (the answer was delivered already, or the event is unknown)."""
        status: str = await self.pool.execute(
            "UPDATE processed_events SET stop_requested_at = coalesce(stop_requested_at, now())"
            " WHERE platform = $1 AND event_id = $2 AND delivered_at IS NULL",
            platform,
            event_id,
        )
        return _row_count(status) == 1

    async def stop_requested(self, event: ChatEvent) -> bool:
        """Whether someone pressed Stop under the event's answer (``request_stop``)."""
        stopped: bool | None = await self.pool.fetchval(
            "SELECT stop_requested_at IS NOT NULL FROM processed_events WHERE platform = $1 AND event_id = $2",
            event.platform,
            event.event_id,
        )
        return bool(stopped)

    async def mark_delivered(
        self, event: ChatEvent, *, answer_id: int | None = None, posted_as: str | None = None
    ) -> None:
        """Note that the event's reply was posted, and tie the stored answer (the ``messages`` row ``answer_id``) to
        the platform's id for the post (``posted_as``), so reactions on it count as feedback.

        One statement for both, an answer's last: a separate round trip cost the worker about 0.4 ms of its event
        loop per answer. No answer row (an apology, a forgotten conversation) updates nothing."""
        try:
            await self.pool.execute(_DELIVERED_AND_LINKED, *_delivered_arguments(event), answer_id, posted_as)
        except asyncpg.PostgresError as error:
            if answer_id is None:
                raise
            # The post is made: it must be marked even when the link cannot be written (say the platform's id
            # does not fit), or a retry would post the answer again. Only reactions on that post are lost.
            log.error("could not link the answer to its posted message", exc_info=error)
            await self.pool.execute(_DELIVERED, *_delivered_arguments(event))

    async def prune(self, older_than: timedelta = PROCESSED_RETENTION) -> Pruned:
        """Forget accepted events older than ``older_than``, and pgqueuer's log lines (three per question) once
        they are that old and counted into its per-second statistics: pgqueuer itself never deletes them. Answered
        threads go once they are past the follow-up window."""
        events: str = await self.pool.execute(
            "DELETE FROM processed_events WHERE received_at < now() - $1::interval", older_than
        )
        log_lines: str = await self.pool.execute(
            "DELETE FROM pgqueuer_log WHERE aggregated AND created < now() - $1::interval", older_than
        )
        threads: str = await self.pool.execute(
            "DELETE FROM answered_threads WHERE answered_at < now() - $1::interval", FOLLOW_UP_WINDOW
        )
        return Pruned(events=_row_count(events), log_lines=_row_count(log_lines), threads=_row_count(threads))


def _delivered_arguments(event: ChatEvent) -> tuple[str, ...]:
    return (event.platform, event.event_id, event.tenant, event.channel, event.thread, event.user_id)


def _row_count(status: str) -> int:
    """The count in a command status such as ``DELETE 12``."""
    return int(status.rsplit(" ", 1)[-1])
