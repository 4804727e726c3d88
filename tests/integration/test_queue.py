"""The durable queue and the worker end to end: real PostgreSQL (pgqueuer installed by the migrations), the real
agent in extractive mode, and a recording deliverer standing in for the platform edge."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from agent.models import Conversation, Message
from agent.schemas import AnswerReply, AnswerRequest, StreamDelta, StreamEvent, StreamFinal
from agent.service import AgentService
from bot.events import ChatEvent
from bot.queue import ANSWER_ENTRYPOINT, JobQueue, dedupe_key
from bot.queue_queries import ACCEPT_WITHIN_SECONDS, UNREACHABLE
from bot.worker import MISSED_TEXT, Worker
from core.db import session_scope
from core.settings import AgentSettings, LLMSettings
from knowledge.service import KnowledgeBase
from tests.conftest import database_settings_for_tests
from tests.integration.helpers.agent import handbook
from tests.integration.helpers.database_proxy import DatabaseProxy, database_proxy
from tests.integration.helpers.queue import SETTINGS, GatedAgent, RecordingDeliverer, jobs, question, queue, until

__all__ = ["handbook", "queue"]  # fixtures used below


@pytest.fixture
async def agent(kb: KnowledgeBase) -> AsyncIterator[AgentService]:
    service = AgentService(
        knowledge=kb, sessionmaker=kb.sessionmaker, llm=LLMSettings(), settings=AgentSettings(min_similarity=0.25)
    )
    yield service
    await service.aclose()


async def messages_of(kb: KnowledgeBase, tenant: str) -> Sequence[Message]:
    async with session_scope(kb.sessionmaker) as session:
        found = await session.scalars(
            select(Message).join(Conversation).where(Conversation.tenant == tenant).order_by(Message.id)
        )
        return found.all()


async def test_a_question_is_answered_and_delivered_with_its_sources(
    queue: JobQueue, agent: AgentService, kb: KnowledgeBase, handbook: str
) -> None:
    deliverer = RecordingDeliverer()
    event = question(handbook)
    assert await queue.enqueue(event) is True

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()

    assert deliverer.working_on == [event.event_id]
    ((delivered_event, reply),) = deliverer.delivered
    assert delivered_event == event
    assert reply.outcome == "answered" and reply.extractive
    assert "press Rotate" in reply.text and reply.sources[0].source_uri.endswith("deployment.md")
    assert reply.trace_id == event.trace_id
    question_row, answer_row = await messages_of(kb, handbook)
    assert question_row.platform_message_id == event.message_id and question_row.user_id == event.user_id
    assert answer_row.id == reply.message_id
    assert answer_row.platform_message_id is not None and answer_row.platform_message_id.startswith("posted-")
    assert await jobs(queue) == []


class LongIdDeliverer(RecordingDeliverer):
    """A platform whose message ids do not fit the column that links answers to their posts."""

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        await super().deliver(event, reply)
        return "p" * 250


async def test_an_answer_whose_post_cannot_be_linked_is_still_marked_delivered_and_posted_once(
    queue: JobQueue, agent: AgentService, kb: KnowledgeBase, handbook: str
) -> None:
    deliverer = LongIdDeliverer()
    event = question(handbook)
    assert await queue.enqueue(event)

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()

    assert deliverer.attempts == 1 and len(deliverer.delivered) == 1
    assert (await queue.progress(event)).delivered
    _, answer_row = await messages_of(kb, handbook)
    assert answer_row.platform_message_id is None  # only reactions on that post are lost
    assert await jobs(queue) == []


async def test_the_first_delivered_answer_is_announced_once(
    queue: JobQueue, agent: AgentService, handbook: str
) -> None:
    """What a server does then (freezing what the first answer loaded) must happen once, not per answer."""
    announced: list[int] = []
    deliverer = RecordingDeliverer()
    worker = Worker(
        queue,
        agent,
        {"slack": deliverer},
        SETTINGS,
        after_first_answer=lambda: announced.append(len(deliverer.delivered)),
    )
    for text in ("How do I rotate the signing key?", "How do I install on Linux?"):
        assert await queue.enqueue(question(handbook, text))
        await worker.drain()
    assert announced == [1] and len(deliverer.delivered) == 2


async def test_an_event_is_accepted_once_even_after_its_job_finished(
    queue: JobQueue, agent: AgentService, kb: KnowledgeBase, handbook: str
) -> None:
    deliverer = RecordingDeliverer()
    event = question(handbook)
    assert [await queue.enqueue(event) for _ in range(3)] == [True, False, False]
    assert [job["dedupe_key"] for job in await jobs(queue)] == [dedupe_key(event)]

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()
    assert len(deliverer.delivered) == 1 and len(await messages_of(kb, handbook)) == 2

    # Slack retries an event whose acknowledgement it missed, possibly long after the answer went out.
    assert await queue.enqueue(event.model_copy(update={"trace_id": "retried"})) is False
    assert await jobs(queue) == []
    # Listeners on several replicas may receive the same delivery at the same moment: one of them wins.
    twin = question(handbook)
    assert sorted(await asyncio.gather(*(queue.enqueue(twin) for _ in range(4)))) == [False, False, False, True]


async def test_a_burst_of_events_is_stored_in_a_few_statements_each_with_its_job(
    queue: JobQueue, handbook: str
) -> None:
    burst = [question(handbook) for _ in range(60)]
    assert await asyncio.gather(*(queue.enqueue(event) for event in burst)) == [True] * 60
    assert sorted(job["dedupe_key"] for job in await jobs(queue)) == sorted(dedupe_key(e) for e in burst)
    assert queue._accepting.batches < 60 / 10  # the events went in together, not one statement each

    seen, new = burst[0], question(handbook)
    assert await queue.enqueue_many([seen, new, new.model_copy(update={"trace_id": "twin"})]) == [False, True, False]
    assert len(await jobs(queue)) == 61


async def test_the_job_an_accepted_event_gets_is_the_one_pgqueuer_itself_writes(queue: JobQueue, handbook: str) -> None:
    # The listener writes the event's row and its job in one statement of its own; the job and its log line must
    # stay what pgqueuer's enqueue writes, or its workers, retries and statistics would misread them.
    ours, theirs = question(handbook), question(handbook)
    assert await queue.enqueue(ours) is True
    await queue.queries().enqueue(
        [ANSWER_ENTRYPOINT],
        [theirs.model_dump_json().encode()],
        [0],
        dedupe_key=[dedupe_key(theirs)],
        on_conflict="skip",
    )
    rows = await queue.pool.fetch(
        "SELECT job.id, job.dedupe_key, job.payload, to_jsonb(job) - 'id' - 'dedupe_key' - 'payload' - 'created'"
        " - 'updated' - 'heartbeat' - 'execute_after' AS job,"
        " job.created = job.updated AND job.updated = job.heartbeat AND job.execute_after = job.created AS same_times,"
        " job.headers IS NULL AS sql_null_headers,"
        " (SELECT jsonb_agg(to_jsonb(log) - 'id' - 'job_id' - 'created') FROM pgqueuer_log log"
        "  WHERE log.job_id = job.id) AS log"
        " FROM pgqueuer job ORDER BY job.id"
    )
    assert [row["dedupe_key"] for row in rows] == [dedupe_key(ours), dedupe_key(theirs)]
    assert ChatEvent.model_validate_json(rows[0]["payload"]) == ours
    mine, pgqueuers = ({k: row[k] for k in ("job", "same_times", "sql_null_headers", "log")} for row in rows)
    assert mine == pgqueuers
    assert '"status": "queued"' in pgqueuers["job"] and pgqueuers["same_times"] is True


async def test_a_batch_queues_its_new_events_in_arrival_order_and_never_twice(queue: JobQueue, handbook: str) -> None:
    batch = [question(handbook) for _ in range(5)]
    assert await queue.enqueue_many(batch) == [True] * 5
    assert [job["dedupe_key"] for job in await jobs(queue)] == [dedupe_key(e) for e in batch]

    # An event whose row was pruned while its job still waits is still a duplicate: its row comes back, no job.
    await queue.pool.execute("DELETE FROM processed_events WHERE event_id = $1", batch[2].event_id)
    late = question(handbook)
    assert await queue.enqueue_many([batch[2], late]) == [False, True]
    assert [job["dedupe_key"] for job in await jobs(queue)] == [dedupe_key(e) for e in [*batch, late]]
    runs = await queue.pool.fetchval("SELECT runs FROM processed_events WHERE event_id = $1", batch[2].event_id)
    assert runs == 0


async def test_a_question_that_waited_too_long_gets_an_apology_not_an_answer(
    queue: JobQueue, agent: AgentService, kb: KnowledgeBase, handbook: str
) -> None:
    deliverer = RecordingDeliverer()
    event = question(handbook, received_at=datetime.now(UTC) - timedelta(minutes=11))
    assert await queue.enqueue(event)

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()

    ((_, reply),) = deliverer.delivered
    assert reply.text == MISSED_TEXT and reply.outcome == "error" and reply.message_id is None
    assert deliverer.working_on == []
    assert await messages_of(kb, handbook) == []  # the agent was never asked


async def test_a_failed_delivery_is_retried_without_asking_the_agent_again(
    queue: JobQueue, agent: AgentService, kb: KnowledgeBase, handbook: str
) -> None:
    deliverer = RecordingDeliverer(failures=1)
    event = question(handbook)
    assert await queue.enqueue(event)

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()

    assert deliverer.attempts == 2 and len(deliverer.delivered) == 1
    _, answer_row = await messages_of(kb, handbook)  # one exchange: the retry posted the kept reply
    assert answer_row.platform_message_id is not None and answer_row.platform_message_id.startswith("posted-")


async def test_a_delivery_that_keeps_failing_is_given_up_after_the_attempts(
    queue: JobQueue, agent: AgentService, handbook: str
) -> None:
    deliverer = RecordingDeliverer(failures=10)
    assert await queue.enqueue(question(handbook))

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()

    # Each attempt tried to post, then the apology for giving up tried too: the platform stayed unreachable.
    assert deliverer.attempts == SETTINGS.retry_attempts + 1 and deliverer.delivered == []
    assert await jobs(queue) == []


async def test_the_last_failure_is_followed_by_an_apology_with_a_reference(
    queue: JobQueue, agent: AgentService, handbook: str
) -> None:
    deliverer = RecordingDeliverer(failures=SETTINGS.retry_attempts)  # reachable again for the apology
    assert await queue.enqueue(question(handbook))

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()

    ((_, apology),) = deliverer.delivered
    assert apology.outcome == "error" and apology.text.startswith("Sorry, I couldn't answer this question")
    assert "Reference: " in apology.text


async def test_a_question_whose_job_keeps_killing_workers_is_given_up(
    queue: JobQueue, agent: AgentService, kb: KnowledgeBase, handbook: str
) -> None:
    event = question(handbook)
    assert await queue.enqueue(event)
    # As if three workers had died running it: pgqueuer would hand it to a fourth, and a fifth, forever.
    await queue.pool.execute(
        "UPDATE processed_events SET runs = $3 WHERE platform = $1 AND event_id = $2",
        event.platform,
        event.event_id,
        SETTINGS.retry_attempts,
    )
    deliverer = RecordingDeliverer()

    await Worker(queue, agent, {"slack": deliverer}, SETTINGS).drain()

    ((_, apology),) = deliverer.delivered
    assert apology.text.startswith("Sorry, I couldn't answer this question") and "Reference: " in apology.text
    assert deliverer.working_on == [] and await messages_of(kb, handbook) == []  # the agent was not asked again
    assert (await queue.progress(event)).delivered


async def kill(worker: asyncio.Task[None], queue: JobQueue) -> None:
    """What a crash leaves behind: connections gone mid-job, nothing written on the way out."""
    queue.pool.terminate()
    while not worker.done():
        worker.cancel()
        await asyncio.wait({worker}, timeout=1)
    if not worker.cancelled():
        worker.exception()  # retrieved: whatever the dying worker raised is expected


async def test_a_job_whose_worker_died_is_picked_up_by_another(
    queue: JobQueue, agent: AgentService, kb: KnowledgeBase, database_url: URL, handbook: str
) -> None:
    event = question(handbook)
    assert await queue.enqueue(event)

    doomed_queue = await JobQueue.connect(database_url, role="tests-doomed", database=database_settings_for_tests())
    doomed = RecordingDeliverer(hang=True)
    doomed_worker = asyncio.create_task(Worker(doomed_queue, agent, {"slack": doomed}, SETTINGS).run(asyncio.Event()))
    await asyncio.wait_for(doomed.delivering.wait(), timeout=15)  # answered, and hanging while posting
    await kill(doomed_worker, doomed_queue)
    assert [job["status"] for job in await jobs(queue)] == ["picked"]

    rescuer = RecordingDeliverer()
    stop = asyncio.Event()
    rescuing = asyncio.create_task(Worker(queue, agent, {"slack": rescuer}, SETTINGS).run(stop))
    await asyncio.wait_for(rescuer.done.wait(), timeout=15)
    stop.set()
    await asyncio.wait_for(rescuing, timeout=15)

    ((_, reply),) = rescuer.delivered
    assert rescuer.working_on == []  # the reply was kept: it is posted, not asked for again
    _, answer_row = await messages_of(kb, handbook)
    assert answer_row.id == reply.message_id and answer_row.platform_message_id is not None
    assert await jobs(queue) == []


async def test_a_worker_answers_its_concurrency_at_once_and_keeps_as_many_ready(queue: JobQueue, tenant: str) -> None:
    agent, deliverer = GatedAgent(), RecordingDeliverer()
    for event in [question(tenant) for _ in range(5)]:
        assert await queue.enqueue(event)
    stop = asyncio.Event()
    running = asyncio.create_task(Worker(queue, cast(AgentService, agent), {"slack": deliverer}, SETTINGS).run(stop))
    try:
        # Two answers (SETTINGS.concurrency) under way; two more questions taken and embedding, ready for a slot.
        await until(lambda: len(agent.embedded) >= 4, "four questions taken")
        await asyncio.sleep(0.3)  # time for a fifth, or a third answer, to start if the worker were to start one
        assert (agent.running, len(agent.embedded)) == (2, 4)
        assert [job["status"] for job in await jobs(queue)].count("picked") == 4

        for _ in range(5):
            agent.gate.release()
        await until(lambda: len(deliverer.delivered) == 5, "five answers")
    finally:
        stop.set()
        for _ in range(5):  # a failed check must not leave answers waiting, nor the worker running
            agent.gate.release()
        await asyncio.wait_for(running, timeout=15)
    assert agent.most_at_once == 2
    assert await jobs(queue) == []


async def new_listener(queue: JobQueue, role: str, known: frozenset[int] = frozenset()) -> int:
    """The backend pid of the worker's LISTEN connection, waiting (up to 10 s) for one not in ``known``."""
    for _ in range(200):
        rows = await queue.pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
            f"threadwise-{role}",
        )
        fresh = {int(row["pid"]) for row in rows} - known
        if fresh:
            return fresh.pop()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no new LISTEN connection from {role}")


async def test_a_worker_that_loses_its_listener_starts_over(
    queue: JobQueue, agent: AgentService, database_url: URL, handbook: str
) -> None:
    async with await JobQueue.connect(
        database_url, role="tests-listener", database=database_settings_for_tests()
    ) as own_queue:
        deliverer = RecordingDeliverer()
        # Polling only every 30 s: a question answered within seconds was noticed through LISTEN/NOTIFY.
        worker = Worker(
            own_queue, agent, {"slack": deliverer}, SETTINGS.model_copy(update={"stalled_after_seconds": 60})
        )
        worker.listener_check_every, worker.listener_timeout, worker.restart_delay = 0.2, 0.5, 0.1
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            lost = await new_listener(queue, "tests-listener")
            await queue.pool.execute("SELECT pg_terminate_backend($1)", lost)  # e.g. the database restarted
            await new_listener(queue, "tests-listener", known=frozenset({lost}))
            assert await queue.enqueue(question(handbook))
            await asyncio.wait_for(deliverer.done.wait(), timeout=10)
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=15)


async def test_a_stopped_worker_leaves_no_pooled_connection_listening(
    agent: AgentService, database_url: URL, queue: JobQueue
) -> None:
    # The pool hands connections back as they are (no reset query): the LISTEN one must come back clean.
    async with await JobQueue.connect(
        database_url, role="tests-release", database=database_settings_for_tests()
    ) as own_queue:
        worker = Worker(own_queue, agent, {"slack": RecordingDeliverer()}, SETTINGS)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        await new_listener(queue, "tests-release")
        stop.set()
        await asyncio.wait_for(running, timeout=15)
        held = [await own_queue.pool.acquire() for _ in range(own_queue.pool.get_max_size())]
        try:
            listening = "SELECT count(*) FROM pg_listening_channels()"
            channels = [await connection.fetchval(listening) for connection in held]
        finally:
            for connection in held:
                await own_queue.pool.release(connection)
    assert channels == [0] * len(held)


async def test_pruning_forgets_old_events_and_old_counted_queue_log_lines(queue: JobQueue) -> None:
    marker = uuid.uuid4().hex
    await queue.pool.execute(
        "INSERT INTO processed_events (platform, event_id, received_at) VALUES"
        " ('slack', $1 || '-old', now() - interval '8 days'), ('slack', $1 || '-new', now() - interval '1 day')",
        marker,
    )
    job_id = 10**15 + uuid.uuid4().int % 10**9  # far from the ids of real jobs
    await queue.pool.execute(
        "INSERT INTO pgqueuer_log (job_id, status, priority, entrypoint, aggregated, created) VALUES"
        " ($1, 'successful', 0, 'answer', true, now() - interval '8 days'),"  # counted and old: goes
        " ($1, 'picked', 0, 'answer', false, now() - interval '8 days'),"  # not yet counted: kept
        " ($1, 'queued', 0, 'answer', true, now() - interval '1 day')",  # counted, recent: kept
        job_id,
    )

    pruned = await queue.prune(older_than=timedelta(days=7))

    assert pruned.events == 1 and pruned.log_lines == 1
    events = await queue.pool.fetch("SELECT event_id FROM processed_events WHERE event_id LIKE $1 || '%'", marker)
    assert [row["event_id"] for row in events] == [f"{marker}-new"]
    kept = await queue.pool.fetch("SELECT status::text FROM pgqueuer_log WHERE job_id = $1 ORDER BY id", job_id)
    assert [row["status"] for row in kept] == ["picked", "queued"]
    await queue.pool.execute("DELETE FROM pgqueuer_log WHERE job_id = $1", job_id)


async def test_depth_and_age_of_the_oldest_waiting_question(queue: JobQueue, tenant: str) -> None:
    assert await queue.depth() == 0 and await queue.oldest_age_seconds() is None

    first, second = question(tenant), question(tenant)
    assert await queue.enqueue(first) and await queue.enqueue(second)
    await queue.pool.execute(
        "UPDATE pgqueuer SET created = now() - interval '90 seconds' WHERE dedupe_key = $1", dedupe_key(first)
    )

    assert await queue.depth() == 2
    age = await queue.oldest_age_seconds()
    assert age is not None and 90 <= age < 120


class ScriptedAgent:
    """Streams fixed pieces (``pause`` seconds apart), then a reply; enough to watch how often the worker edits
    the message."""

    def __init__(self, pieces: list[str], *, pause: float = 0.0, timeline: list[str] | None = None) -> None:
        self.pieces = pieces
        self.pause = pause
        self.timeline = timeline if timeline is not None else []

    def embed_question(self, request: AnswerRequest) -> None:
        return None  # nothing to search

    async def stream(self, request: AnswerRequest, *, query_embedding: object = None) -> AsyncIterator[StreamEvent]:
        self.timeline.append("answer begun")
        for index, piece in enumerate(self.pieces):
            if index:
                await asyncio.sleep(self.pause)
            yield StreamDelta(text=piece)
        yield StreamFinal(reply=AnswerReply(text="".join(self.pieces), outcome="answered", trace_id=request.trace_id))


@pytest.mark.parametrize(
    ("interval", "pause", "expected"),
    [
        (0.0, 0.0, ["Press", "Press Rotate", "Press Rotate."]),
        (0.2, 0.25, ["Press Rotate", "Press Rotate."]),  # the first piece came before an interval had passed
        (60.0, 0.0, []),  # written within the interval: only the final message
    ],
)
async def test_partial_answers_are_shown_at_most_once_per_interval(
    queue: JobQueue, tenant: str, interval: float, pause: float, expected: list[str]
) -> None:
    deliverer = RecordingDeliverer()
    agent = cast(AgentService, ScriptedAgent(["Press", " Rotate", "."], pause=pause))
    settings = SETTINGS.model_copy(update={"update_interval": interval})

    await Worker(queue, agent, {"slack": deliverer}, settings).answer(question(tenant))

    assert deliverer.updates == expected
    assert [reply.text for _, reply in deliverer.delivered] == ["Press Rotate."]


class SlowToShowDeliverer(RecordingDeliverer):
    """Its 👀 takes a platform's round trip; records in order what the worker does."""

    def __init__(self, timeline: list[str]) -> None:
        super().__init__()
        self.timeline = timeline

    async def working(self, event: ChatEvent) -> None:
        self.timeline.append("👀 asked for")
        await asyncio.sleep(0.3)
        self.timeline.append("👀 up")

    async def update(self, event: ChatEvent, partial_text: str) -> None:
        self.timeline.append(f"partial {partial_text!r}")

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        self.timeline.append("answer posted")
        return await super().deliver(event, reply)


async def test_the_answer_is_written_while_the_working_sign_goes_up_and_shown_only_after_it(
    queue: JobQueue, tenant: str
) -> None:
    timeline: list[str] = []
    agent = cast(AgentService, ScriptedAgent(["Press", " Rotate"], timeline=timeline))
    settings = SETTINGS.model_copy(update={"update_interval": 0.0})

    await Worker(queue, agent, {"slack": SlowToShowDeliverer(timeline)}, settings).answer(question(tenant))

    # The answer does not wait for the platform's round trip, and none of it shows before the 👀.
    assert set(timeline[:2]) == {"👀 asked for", "answer begun"}
    assert timeline[2:] == [
        "👀 up",
        "partial 'Press'",
        "partial 'Press Rotate'",
        "answer posted",
    ]


async def test_the_migrated_schema_is_the_one_pgqueuer_expects(queue: JobQueue) -> None:
    # Fails after upgrading pgqueuer when the new version wants schema changes: put these in a new migration.
    plan = await queue.queries().plan_upgrade()
    assert plan.statements == ()


class CutsTheDatabaseOff(RecordingDeliverer):
    """Its first post fails while the database is out of reach (a restart while the answer was being posted)."""

    def __init__(self, proxy: DatabaseProxy) -> None:
        super().__init__(failures=1)
        self.proxy = proxy
        self.cut = asyncio.Event()

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        if self.failures:
            await self.proxy.cut()
            self.cut.set()
        return await super().deliver(event, reply)


async def test_a_job_whose_retry_meets_a_database_restart_is_retried_once_the_database_is_back(
    agent: AgentService, database_url: URL, handbook: str
) -> None:
    async with database_proxy(database_url) as proxy:
        database = database_settings_for_tests()
        async with await JobQueue.connect(proxy.url, role="tests-restart", database=database) as own_queue:
            await own_queue.pool.execute("DELETE FROM pgqueuer")
            deliverer = CutsTheDatabaseOff(proxy)
            worker = Worker(own_queue, agent, {"slack": deliverer}, SETTINGS)
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            try:
                assert await own_queue.enqueue(question(handbook))
                await asyncio.wait_for(deliverer.cut.wait(), timeout=10)
                # pgqueuer writes the job's retry while the database is away, and the server is back moments later
                # (before the worker's own loop notices): the job must be retried, not recorded as failed.
                await asyncio.sleep(0.3)
                await proxy.open()
                await asyncio.wait_for(deliverer.done.wait(), timeout=20)
            finally:
                stop.set()
                await asyncio.wait_for(running, timeout=15)
    assert deliverer.attempts == 2 and len(deliverer.delivered) == 1


async def test_a_question_that_arrives_during_a_restart_is_stored_once_the_database_is_back(
    queue: JobQueue, database_url: URL, tenant: str
) -> None:
    """Slack waits 3 s for its ack: a restart shorter than ACCEPT_WITHIN_SECONDS delays the ack instead of failing
    it (which would leave the question to Slack's retry, minutes later in real Slack)."""
    async with database_proxy(database_url) as proxy:
        database = database_settings_for_tests()
        async with await JobQueue.connect(proxy.url, role="tests-accept", database=database) as own_queue:
            event = question(tenant)
            await proxy.cut()
            accepting = asyncio.create_task(own_queue.enqueue(event))
            await asyncio.sleep(0.5)
            assert not accepting.done()  # still trying, not failed
            await proxy.open()
            assert await asyncio.wait_for(accepting, timeout=ACCEPT_WITHIN_SECONDS)
    # Stored in the shared database (the ``queue`` fixture deletes the job afterwards, before any worker sees it).
    assert [job["dedupe_key"] for job in await jobs(queue)] == [dedupe_key(event)]


async def test_a_question_is_refused_when_the_database_stays_away_so_slack_sends_it_again(
    database_url: URL, tenant: str
) -> None:
    async with database_proxy(database_url) as proxy:
        database = database_settings_for_tests()
        async with await JobQueue.connect(proxy.url, role="tests-accept", database=database) as own_queue:
            await proxy.cut()
            started = asyncio.get_running_loop().time()
            with pytest.raises(UNREACHABLE):
                await own_queue.enqueue(question(tenant))
            waited = asyncio.get_running_loop().time() - started
            await proxy.open()
    assert ACCEPT_WITHIN_SECONDS - 0.1 <= waited < 3.0  # within Slack's 3 s, so its retry comes
