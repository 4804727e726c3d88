"""Limits per user, channel and tenant (``LIMITS_*``): Slack end to end (real slack-bolt, queue, worker, fake Slack
Web API), the HTTP API, the worker under a tenant's answers at once, and two replicas (two independent connection
pools) sharing the counts and the slots through PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.models import Conversation, Message
from agent.schemas import AnswerReply, AnswerRequest, StreamEvent, StreamFinal
from agent.service import AgentService
from bot.events import ChatEvent
from bot.limits import Limits, TenantBusyError
from bot.limits.database import Database, EngineDatabase
from bot.limits.slots import Lease
from bot.queue import JobQueue
from bot.worker import GAVE_UP_TEXT, Worker, tenant_wait_seconds
from core.db import session_scope
from core.settings import LimitSettings
from knowledge.service import KnowledgeBase
from tests.conftest import database_settings_for_tests
from tests.fakes.slack_api import FakeSlack
from tests.integration.helpers.api import client_for, docs_tenant
from tests.integration.helpers.queue import SETTINGS, GatedAgent, RecordingDeliverer, jobs, question, queue, until
from tests.integration.helpers.slack import answers, mention, post_event, slack, slack_app, team

__all__ = ["docs_tenant", "queue", "slack", "team"]  # fixtures used below

NO_LIMITS = LimitSettings(user_per_minute=0, channel_per_minute=0, tenant_concurrent=0)


def rate_limited(limit: str, platform: str) -> float:
    return REGISTRY.get_sample_value("threadwise_rate_limited_total", {"limit": limit, "platform": platform}) or 0.0


async def well_inside_a_minute(needed: float = 15.0) -> None:
    """The windows are whole minutes: start a test's questions where they all fall in the same one."""
    now = datetime.now(UTC)
    left = 60 - now.second - now.microsecond / 1e6
    if left < needed:
        await asyncio.sleep(left + 0.1)


async def questions_stored(kb: KnowledgeBase, team: str) -> list[str]:
    """The platform ids of the questions the agent was asked (it stores each one it answers)."""
    async with session_scope(kb.sessionmaker) as session:
        found = await session.scalars(
            select(Message.platform_message_id)
            .join(Conversation)
            .where(Conversation.tenant == team, Message.role == "user")
        )
        return [str(ts) for ts in found]


async def ask_in_turn(database_url: str, slack: FakeSlack, envelopes: list[dict[str, object]], **limits: int) -> None:
    """Each question once the one before it has its reply, so which one is over the limit is known."""
    async with slack_app(database_url, slack, limits=limits) as client:
        for number, envelope in enumerate(envelopes, start=1):
            assert (await post_event(client, envelope)).status_code == 200
            await answers(slack, number)
        await asyncio.sleep(0.3)  # nothing else arrives


# --- Slack: questions a minute ----------------------------------------------------------------------------------


async def test_a_person_over_their_limit_is_told_so_in_the_thread_and_the_agent_is_not_asked(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    before = rate_limited("user", "slack")
    await well_inside_a_minute()
    # Three channels: only the person's limit can be what stops the third question.
    envelopes = [mention(team, "how do I rotate the signing key?", channel=f"C0ROOM{n}") for n in range(3)]
    await ask_in_turn(database_url_text, slack, envelopes, user_per_minute=2)

    *answered, refused = [call.args for call in slack.calls_to("chat.postMessage")]
    assert len(answered) == 2 and all("press Rotate" in post["text"] for post in answered)
    third = envelopes[2]["event"]
    assert refused["channel"] == third["channel"] and refused["thread_ts"] == third["ts"]
    assert refused["text"].startswith("You're asking faster than I can answer: try again in ")
    assert "(the limit is 2 questions a minute per person)" in refused["text"]
    assert third["ts"] not in await questions_stored(kb, team)
    assert third["ts"] not in [call.args["timestamp"] for call in slack.calls_to("reactions.add")]  # no 👀 either
    assert rate_limited("user", "slack") == before + 1


async def test_a_busy_channel_is_told_so_whoever_asks(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    before = rate_limited("channel", "slack")
    await well_inside_a_minute()
    envelopes = [mention(team, "how do I rotate the signing key?", user=f"U0PERSON{n}") for n in range(3)]
    await ask_in_turn(database_url_text, slack, envelopes, channel_per_minute=2)

    *answered, refused = [call.args for call in slack.calls_to("chat.postMessage")]
    assert all("press Rotate" in post["text"] for post in answered)
    assert refused["thread_ts"] == envelopes[2]["event"]["ts"]
    assert refused["text"].startswith("This channel is asking faster than I can answer: try again in ")
    assert "(the limit is 2 questions a minute per channel)" in refused["text"]
    assert envelopes[2]["event"]["ts"] not in await questions_stored(kb, team)
    assert rate_limited("channel", "slack") == before + 1


# --- the API ------------------------------------------------------------------------------------------------------


async def test_the_api_answers_429_with_retry_after_over_a_conversations_limit_or_a_busy_tenant(
    database_url_text: str, engine: AsyncEngine, docs_tenant: str
) -> None:
    await well_inside_a_minute()
    ask = {"question": "How do I rotate the signing key?", "tenant": docs_tenant, "conversation_id": "c-limits"}
    before = rate_limited("channel", "api"), rate_limited("tenant", "api")
    async with client_for(database_url_text, limits={"channel_per_minute": 1, "tenant_concurrent": 1}) as client:
        assert (await client.post("/api/v1/ask", json=ask)).status_code == 200
        over = await client.post("/api/v1/ask", json=ask)
        assert over.status_code == 429
        assert over.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        assert "this conversation had more than its 1 questions a minute" in over.json()["detail"]

        # Another replica writing the tenant's one answer at once: a new conversation must wait for it.
        other = Limits(LimitSettings(tenant_concurrent=1), EngineDatabase(engine))
        lease = await other.take_answer_slot(platform="slack", tenant=docs_tenant)
        async with other.holding(lease):
            busy = await client.post("/api/v1/ask", json=ask | {"conversation_id": "c-busy", "stream": True})
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "2"
        assert "the tenant already has its 1 answers at once being written" in busy.json()["detail"]
        freed = await client.post("/api/v1/ask", json=ask | {"conversation_id": "c-freed", "stream": True})
        assert freed.status_code == 200 and "event: final" in freed.text
    assert (rate_limited("channel", "api"), rate_limited("tenant", "api")) == (before[0] + 1, before[1] + 1)


# --- replicas -----------------------------------------------------------------------------------------------------


Replicas = Callable[..., list[Limits]]


@pytest.fixture
async def replicas(database_url: URL, engine: AsyncEngine) -> AsyncIterator[Replicas]:
    """Two processes' worth of limits with the settings given: one on a worker's asyncpg pool, one on the web
    app's SQLAlchemy engine (two independent connection pools)."""
    made: list[Limits] = []

    def configured(settings: LimitSettings, *, lease_seconds: float = 60.0) -> list[Limits]:
        pair = [Limits(settings, database, lease_seconds=lease_seconds) for database in databases]
        made.extend(pair)
        return pair

    async with await JobQueue.connect(
        database_url, role="tests-replica", database=database_settings_for_tests()
    ) as other:
        databases: list[Database] = [other.pool, EngineDatabase(engine)]
        yield configured
        for limits in made:  # a prune under way finishes before the pool closes
            await limits.aclose()


async def test_replicas_share_the_counts_of_questions_a_minute(replicas: Replicas, tenant: str) -> None:
    first, second = replicas(LimitSettings(user_per_minute=5, channel_per_minute=0))
    await well_inside_a_minute()
    refusals = await asyncio.gather(
        *(
            (first if n % 2 else second).check_question(platform="slack", tenant=tenant, channel="C1", user="U1")
            for n in range(12)
        )
    )
    assert sum(refusal is None for refusal in refusals) == 5
    assert {(r.limit, r.allowed) for r in refusals if r is not None} == {("user", 5)}
    # Another person, or the same id in another team, has counts of their own.
    assert await first.check_question(platform="slack", tenant=tenant, channel="C1", user="U2") is None
    assert await second.check_question(platform="slack", tenant=f"{tenant}-b", channel="C1", user="U1") is None


async def test_a_person_over_their_limit_does_not_use_up_their_channel(replicas: Replicas, tenant: str) -> None:
    first, second = replicas(LimitSettings(user_per_minute=2, channel_per_minute=3))
    await well_inside_a_minute()

    async def ask(limits: Limits, user: str) -> str | None:
        refusal = await limits.check_question(platform="slack", tenant=tenant, channel="C1", user=user)
        return None if refusal is None else refusal.limit

    assert [await ask(first, "U1") for _ in range(5)] == [None, None, "user", "user", "user"]
    assert [await ask(second, "U2") for _ in range(2)] == [None, "channel"]


async def test_a_question_counts_in_the_minute_it_was_asked(replicas: Replicas, tenant: str) -> None:
    (limits, _) = replicas(LimitSettings(user_per_minute=1, channel_per_minute=0))
    minute_ago = datetime.now(UTC) - timedelta(minutes=1)  # say, it waited in the queue for a minute
    assert not await limits.check_question(platform="slack", tenant=tenant, channel="C", user="U", asked_at=minute_ago)
    assert await limits.check_question(platform="slack", tenant=tenant, channel="C", user="U", asked_at=minute_ago)
    assert not await limits.check_question(platform="slack", tenant=tenant, channel="C", user="U")


async def take(limits: Limits, tenant: str) -> Lease | None:
    try:
        return await limits.take_answer_slot(platform="slack", tenant=tenant)
    except TenantBusyError:
        return None


async def test_replicas_share_a_tenants_answers_at_once_and_a_dead_holders_slot_frees_itself(
    replicas: Replicas, tenant: str
) -> None:
    first, second = replicas(LimitSettings(tenant_concurrent=3), lease_seconds=1.0)
    leases = await asyncio.gather(*(take(first if n % 2 else second, tenant) for n in range(10)))
    held = [lease for lease in leases if lease is not None]
    assert sorted(lease.slot for lease in held) == [0, 1, 2]
    assert await take(first, f"{tenant}-other") is not None  # another tenant has slots of its own

    # Taken and never held (the process died): nobody renews them, so they expire and are taken over.
    assert await take(second, tenant) is None
    await asyncio.sleep(1.1)
    assert await take(second, tenant) is not None


async def test_a_held_slot_is_renewed_while_its_answer_runs_and_free_at_once_after(
    replicas: Replicas, tenant: str
) -> None:
    first, second = replicas(LimitSettings(tenant_concurrent=1), lease_seconds=0.6)
    async with first.answer_slot(platform="slack", tenant=tenant):
        for _ in range(4):  # twice the lease's length
            await asyncio.sleep(0.3)
            assert await take(second, tenant) is None
    assert await take(second, tenant) is not None


async def test_old_windows_and_dead_leases_are_pruned(replicas: Replicas, tenant: str) -> None:
    (limits, _) = replicas(LimitSettings(user_per_minute=1, tenant_concurrent=1), lease_seconds=0.1)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    await limits.check_question(platform="slack", tenant=tenant, channel="C", user="U", asked_at=long_ago)
    assert await take(limits, tenant) is not None
    await asyncio.sleep(0.2)

    await limits._prune()

    database = limits.database
    old = await database.fetchrow(
        "SELECT count(*) AS n FROM rate_limit_windows WHERE key LIKE $1 AND window_start < now() - interval '30 min'",
        f"%:{tenant}:%",
    )
    dead = await database.fetchrow("SELECT count(*) AS n FROM answer_leases WHERE tenant = $1", tenant)
    assert (old or {}).get("n") == 0 and (dead or {}).get("n") == 0


# --- the worker: a tenant's answers at once -----------------------------------------------------------------------


class FailsTheSecondDelivery(RecordingDeliverer):
    """Fails the second delivery (a platform hiccup for whichever question waited its turn): which of two
    questions handed over together takes the tenant's slot first is the queue's choice."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        self.calls += 1
        if self.calls == 2:
            self.attempts += 1
            raise ConnectionError("the platform is unreachable")
        return await super().deliver(event, reply)


async def test_a_tenants_next_question_waits_for_a_free_slot_and_is_answered_once(queue: JobQueue, tenant: str) -> None:
    first, second = question(tenant), question(tenant, user_id="U0BOB")
    agent, deliverer = GatedAgent(), FailsTheSecondDelivery()
    limits = Limits(LimitSettings(tenant_concurrent=1, user_per_minute=0, channel_per_minute=0), queue.pool)
    worker = Worker(queue, cast(AgentService, agent), {"slack": deliverer}, SETTINGS, limits=limits)
    worker.tenant_retry_delay, worker.tenant_retry_max_delay = 0.05, 0.1
    before = rate_limited("tenant", "slack")
    for event in (first, second):
        assert await queue.enqueue(event)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: agent.running == 1, "one answer under way")
        # The other question comes back for a slot again and again: more often than a job has attempts
        # (SETTINGS.retry_attempts), yet none of that counts as a failure.
        await until(lambda: rate_limited("tenant", "slack") >= before + 2 * SETTINGS.retry_attempts, "waiting turns")
        assert agent.running == 1 and deliverer.delivered == []

        agent.gate.release()
        await until(lambda: len(deliverer.delivered) == 1, "the first answer")
        agent.gate.release()
        await until(lambda: len(deliverer.delivered) == 2, "the second answer, after one failed delivery")
    finally:
        stop.set()
        for _ in range(2):
            agent.gate.release()
        await asyncio.wait_for(running, timeout=15)
    assert agent.most_at_once == 1
    # Each answered once; which took the slot first is the queue's choice (both were handed over together).
    assert sorted((event.event_id, reply.text) for event, reply in deliverer.delivered) == sorted(
        [(first.event_id, "Done."), (second.event_id, "Done.")]
    )
    assert not any(GAVE_UP_TEXT[:20] in reply.text for _, reply in deliverer.delivered)
    assert await jobs(queue) == []


def test_a_question_waiting_for_its_tenant_waits_longer_each_time() -> None:
    # About as long again as it has waited: 1, 1, 2, 4, 8 s …, at most 15 s (spread by a quarter either way).
    waits = [tenant_wait_seconds(waited, first=1.0, most=15.0) for waited in (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 300.0)]
    expected = [1.0, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert all(0.75 * e <= wait <= 1.25 * e for wait, e in zip(waits, expected, strict=True)), waits


class FailsFirstStream:
    """The agent failing its first answer (say the model timed out); answering again works."""

    def __init__(self) -> None:
        self.streams = 0

    def embed_question(self, request: AnswerRequest) -> None:
        return None

    async def stream(self, request: AnswerRequest, *, query_embedding: object = None) -> AsyncIterator[StreamEvent]:
        self.streams += 1
        if self.streams == 1:
            raise TimeoutError("the model took too long")
        yield StreamFinal(reply=AnswerReply(text="Done.", outcome="answered", trace_id=request.trace_id))


async def test_a_question_answered_on_a_retry_counts_once_against_its_limits(queue: JobQueue, tenant: str) -> None:
    await well_inside_a_minute()
    event = question(tenant)
    agent, deliverer = FailsFirstStream(), RecordingDeliverer()
    limits = Limits(LimitSettings(user_per_minute=1, channel_per_minute=0, tenant_concurrent=0), queue.pool)
    assert await queue.enqueue(event)

    await Worker(queue, cast(AgentService, agent), {"slack": deliverer}, SETTINGS, limits=limits).drain()

    assert agent.streams == 2
    ((_, reply),) = deliverer.delivered
    assert reply.text == "Done."  # counted twice, the retry would have been refused as one question too many
    counted = await queue.pool.fetchval(
        "SELECT count FROM rate_limit_windows WHERE key = $1", f"user:slack:{tenant}:{event.user_id}"
    )
    assert counted == 1


async def test_a_slack_question_with_a_nul_in_it_is_answered(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    # PostgreSQL text cannot hold a NUL: the worker leaves it out rather than drop the question.
    envelope = mention(team, "how do I rotate\x00 the signing key?")
    async with slack_app(database_url_text, slack) as client:
        assert (await post_event(client, envelope)).status_code == 200
        (posted,) = await answers(slack)
    assert posted["thread_ts"] == envelope["event"]["ts"] and "press Rotate" in posted["text"]


def test_the_question_asked_leaves_out_what_cannot_be_stored() -> None:
    # A ChatEvent refuses a lone surrogate when it is made: copied in unchecked, as a future listener might.
    event = question("T0TEAM").model_copy(update={"text": "how do I\x00 rotate \ud800the key?\udfff"})
    request = Worker._request(event)
    assert request is not None and request.question == "how do I rotate the key?"
    empty = question("T0TEAM").model_copy(update={"text": "\x00 \ud83d"})
    assert Worker._request(empty) is None  # nothing left: dropped, as before


class NoDatabase:
    """Fails any statement."""

    async def fetchrow(self, query: str, *args: object) -> None:
        raise AssertionError(f"a statement ran: {query}")

    async def execute(self, query: str, *args: object) -> str:
        raise AssertionError(f"a statement ran: {query}")


async def test_limits_of_zero_cost_no_statement(tenant: str) -> None:
    limits = Limits(NO_LIMITS, NoDatabase())
    assert await limits.check_question(platform="slack", tenant=tenant, channel="C", user="U") is None
    async with limits.answer_slot(platform="slack", tenant=tenant):
        pass
