"""``GET /metrics`` through the real app: the figures move when an answer is given and a vote is cast."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL

from bot.events import ChatEvent
from bot.queue import JobQueue, dedupe_key
from bot.web.app import create_app
from core.metrics import QUEUE_DEPTH, QUEUE_OLDEST_SECONDS
from core.settings import load_settings
from tests.conftest import database_settings_for_tests
from tests.deploy_manifests import keda_trigger_query
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.integration.helpers.api import ADMIN_TOKEN, client_for, docs_tenant
from tests.integration.helpers.slack import slack

__all__ = ["docs_tenant", "slack"]  # fixtures used below


async def _samples(client: httpx.AsyncClient, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_answers_and_votes_move_the_metrics(database_url_text: str, docs_tenant: str) -> None:
    async with client_for(database_url_text) as client:
        before = await _samples(client)
        asked = await client.post(
            "/api/v1/ask", json={"question": "How do I rotate the signing key?", "tenant": docs_tenant}
        )
        message_id = asked.json()["message_id"]
        voted = await client.post(
            "/api/v1/feedback", json={"message_id": message_id, "vote": "down", "user": "ana", "tenant": docs_tenant}
        )
        unknown_collection = await client.post(
            "/api/v1/ask", json={"question": "rotate?", "tenant": docs_tenant, "collections": ["no-such-collection"]}
        )
        after = await _samples(client)
    assert asked.status_code == 200 and voted.status_code == 204
    assert unknown_collection.json()["outcome"] == "error"

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("threadwise_questions_total", platform="api", outcome="answered") == 1
    assert moved("threadwise_questions_total", platform="api", outcome="error") == 1
    assert moved("threadwise_errors_total", kind="agent_retrieve") == 1
    assert moved("threadwise_answer_seconds_count", platform="api") == 2
    assert moved("threadwise_retrieval_seconds_count", mode="hybrid") == 2
    assert moved("threadwise_feedback_votes_total", platform="api", vote="down") == 1
    assert moved("threadwise_llm_tokens_total", kind="prompt") == 0  # extractive: no LLM, no tokens


async def test_metrics_need_the_admin_token_when_one_is_set(database_url_text: str) -> None:
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        anonymous = await client.get("/metrics")
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert anonymous.status_code == 401 and ADMIN_TOKEN not in anonymous.text
    assert allowed.status_code == 200 and "# HELP threadwise_questions_total" in allowed.text


@asynccontextmanager
async def _slack_app_without_worker(database_url: str, fake: FakeSlack) -> AsyncIterator[httpx.AsyncClient]:
    """Slack configured (so the app has a queue) but no worker: a queued job stays queued until the scrape."""
    slack_settings = {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_url": fake.api_url}
    settings = load_settings(database={"url": database_url}, slack=slack_settings)
    async with LifespanManager(create_app(settings, worker=False)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://threadwise.test") as client:
            yield client


async def test_the_queue_is_measured_when_a_platform_runs_one(
    database_url: URL, database_url_text: str, slack: FakeSlack
) -> None:
    # The gauges live for the whole process: zero them, so only this scrape's reading of the queue can pass.
    QUEUE_DEPTH.set(0)
    QUEUE_OLDEST_SECONDS.set(0)
    waiting = ChatEvent(
        platform="slack",
        event_id=f"metrics-{uuid.uuid4().hex}",
        tenant="T0METRICS",
        channel="C0METRICS",
        user_id="U0ALICE",
        text="Is anyone there?",
    )
    async with await JobQueue.connect(database_url, role="tests", database=database_settings_for_tests()) as queue:
        assert await queue.enqueue(waiting)
        try:
            async with _slack_app_without_worker(database_url_text, slack) as client:
                samples = await _samples(client)
            keda_sees = await queue.pool.fetchval(keda_trigger_query())  # what KEDA scales the workers on
        finally:  # no later test's worker may pick it up
            await queue.pool.execute("DELETE FROM pgqueuer WHERE dedupe_key = $1", dedupe_key(waiting))
    assert ("threadwise_queue_depth", frozenset()) in samples
    assert samples[("threadwise_queue_depth", frozenset())] >= 1
    assert samples[("threadwise_queue_depth", frozenset())] == keda_sees
    assert samples[("threadwise_queue_oldest_job_seconds", frozenset())] > 0
