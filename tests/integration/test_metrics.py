"""``GET /metrics`` through the real app: the figures move when an answer is given and a vote is cast."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.slack_api import FakeSlack
from tests.integration.test_api import ADMIN_TOKEN, client_for, docs_tenant
from tests.integration.test_slack import slack, slack_app

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


async def test_the_queue_is_measured_when_a_platform_runs_one(database_url_text: str, slack: FakeSlack) -> None:
    async with slack_app(database_url_text, slack) as client:
        samples = await _samples(client)
    assert ("threadwise_queue_depth", frozenset()) in samples
    assert samples[("threadwise_queue_oldest_job_seconds", frozenset())] >= 0
