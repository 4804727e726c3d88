"""Sentry against a fake ingest endpoint on 127.0.0.1: a failure in a worker becomes one scrubbed event whose id
is the reference in the user's reply."""

from __future__ import annotations

import asyncio

import pytest
import sentry_sdk

from core.sentry import EventScrubber, span, transaction
from core.settings import load_settings
from tests.fakes.openai_server import Status, scripted_llm
from tests.fakes.sentry_ingest import PROJECT, FakeSentry
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.integration.helpers.sentry import sentry
from tests.integration.helpers.slack import answered, answers, mention, post_event, slack, slack_app, team

__all__ = ["sentry", "slack", "team"]  # fixtures used below

LLM_API_KEY = "sk-live-0123456789abcdefghijklmnop"  # made up; sent only to the fake LLM
QUESTION = "how do I rotate the signing key for the payroll cluster?"


async def test_a_worker_failure_is_one_scrubbed_event_whose_id_is_the_reference(
    database_url_text: str, slack: FakeSlack, team: str, sentry: FakeSentry
) -> None:
    with scripted_llm(default=Status(503)) as llm:
        llm_settings: dict[str, object] = {
            "model": "openai:primary",
            "base_url": llm.base_url,
            "api_key": LLM_API_KEY,
            "retry_attempts": 2,
            "retry_backoff": 0.01,
        }
        async with slack_app(
            database_url_text, slack, llm=llm_settings, sentry={"dsn": sentry.dsn, "environment": "ci"}
        ) as client:
            await post_event(client, mention(team, QUESTION))
            (posted,) = await answers(slack)
            sentry_sdk.flush(timeout=5)
            (event,) = await asyncio.to_thread(sentry.wait_for_events, 1)
            await asyncio.sleep(0.5)  # a second event would show up now
    assert len(sentry.events()) == 1
    reference = posted["text"].rsplit("Reference: ", 1)[1].strip().rstrip(".")
    assert reference == event["event_id"]
    assert event["environment"] == "ci" and event["release"].startswith("threadwise@")
    assert "InternalServerError" in [value["type"] for value in event["exception"]["values"]]
    assert all(path == f"/api/{PROJECT}/envelope/" for path in sentry.paths)
    sent = sentry.raw().decode()
    for secret in (BOT_TOKEN, SIGNING_SECRET, LLM_API_KEY, "payroll cluster"):
        assert secret not in sent


async def test_with_tracing_on_each_answer_is_one_transaction_with_its_steps(
    database_url_text: str, slack: FakeSlack, team: str, sentry: FakeSentry
) -> None:
    with scripted_llm() as llm:
        llm_settings: dict[str, object] = {"model": "openai:primary", "base_url": llm.base_url, "api_key": LLM_API_KEY}
        sentry_settings = {"dsn": sentry.dsn, "traces_sample_rate": 1.0}
        async with slack_app(database_url_text, slack, llm=llm_settings, sentry=sentry_settings) as client:
            await post_event(client, mention(team, QUESTION))
            await answered(slack)
    # The job's transaction ends after the answer is posted (delivery marked, message linked): certainly by the
    # time the app has stopped its worker.
    sentry_sdk.flush(timeout=5)
    (job,) = await asyncio.to_thread(
        sentry.wait_for, "transaction", 1, lambda item: item["transaction"] == "answer slack question"
    )
    assert job["contexts"]["trace"]["op"] == "threadwise.job"
    steps = {span["op"] for span in job["spans"]}
    assert {"threadwise.retrieve", "threadwise.generate"} <= steps


def test_with_sentry_off_the_steps_make_no_spans() -> None:
    assert not sentry_sdk.get_client().is_active()
    with span("threadwise.retrieve", "retrieve") as nothing, transaction("threadwise.job", "answer") as none_either:
        assert nothing is None and none_either is None


@pytest.mark.usefixtures("without_pooler")
def test_the_scrubber_masks_secrets_and_drops_message_text() -> None:
    settings = load_settings(slack={"bot_token": "xoxb-1-secret-token-value", "signing_secret": "s" * 32})
    scrubber = EventScrubber(settings.secret_values(), keep_text=False)
    event = {
        "message": "posting with xoxb-1-secret-token-value failed",
        "request": {"headers": {"Authorization": "Bearer abc"}, "data": "{...}", "url": "http://x/slack/events"},
        "extra": {"question": "what is our payroll?", "answer_id": 7, "db": "postgresql://u:pw@h/db"},
        "breadcrumbs": {"values": [{"message": "sk-abcdefghijklmnopqrstuvwx used", "data": {"text": "hello"}}]},
    }
    scrubbed = scrubber.event(event, {})
    assert scrubbed is not None
    assert "xoxb-1-secret-token-value" not in str(scrubbed) and "sk-abcdefghijklmnopqrstuvwx" not in str(scrubbed)
    assert scrubbed["request"] == {"url": "http://x/slack/events"}
    assert scrubbed["extra"]["question"] == "***" and scrubbed["extra"]["answer_id"] == 7
    assert scrubbed["extra"]["db"] == "postgresql://u:***@h/db"
    assert scrubbed["breadcrumbs"]["values"][0]["data"] == "***"
    kept = EventScrubber([], keep_text=True).event({"extra": {"question": "what is our payroll?"}}, {})
    assert kept is not None and kept["extra"]["question"] == "what is our payroll?"


def test_failed_model_tasks_are_left_to_the_graph_but_our_own_dying_tasks_are_reported() -> None:
    scrubber = EventScrubber([], keep_text=False)

    def dying_task(*modules: str) -> dict[str, object]:
        frames = [{"module": module} for module in modules]
        value = {"type": "RuntimeError", "mechanism": {"type": "asyncio"}, "stacktrace": {"frames": frames}}
        return {"exception": {"values": [value]}}

    assert scrubber.event(dying_task("langchain_core.language_models.chat_models", "openai._base_client"), {}) is None
    assert scrubber.event(dying_task("bot.worker", "asyncpg.pool"), {}) is not None
