"""The Slack deliverer continuing in the placeholder an earlier run of a job posted (it crashed), against the fake
Slack Web API through the real slack_sdk client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from agent.schemas import AnswerReply
from bot.events import ChatEvent
from bot.slack.deliverer import SlackDeliverer
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, fake_slack

CHANNEL, THREAD = "C0ENG", "1700000000.000100"
ANSWER = AnswerReply(text="Open the admin console and press Rotate.", outcome="answered")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def deliverer(slack: FakeSlack) -> SlackDeliverer:
    return SlackDeliverer(AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))


def event() -> ChatEvent:
    return ChatEvent(
        platform="slack",
        event_id="Ev0PLACEHOLDER",
        tenant="T0TEAM001",
        channel=CHANNEL,
        thread=THREAD,
        user_id="U0ALICE",
        message_id=THREAD,
        text="how do I rotate the signing key?",
        delivery={"thread_ts": THREAD},
    )


async def crashed_run(slack: FakeSlack) -> str:
    """What a run that died mid-answer left in the thread: its placeholder, with part of the answer."""
    first = SlackDeliverer(AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))
    posted = await first.update(event(), "Open the admin")
    assert posted is not None and [m["text"] for m in slack.thread(CHANNEL, THREAD)] == ["Open the admin …"]
    return posted


async def test_a_resumed_job_edits_the_placeholder_to_the_end_and_posts_nothing_new(
    slack: FakeSlack, deliverer: SlackDeliverer
) -> None:
    placeholder = await crashed_run(slack)

    deliverer.resume(event(), placeholder)
    assert await deliverer.update(event(), "Open the admin console") is None  # edited: nothing new to store
    assert await deliverer.deliver(event(), ANSWER) == placeholder

    (shown,) = slack.thread(CHANNEL, THREAD)
    assert shown["ts"] == placeholder and "press Rotate" in shown["text"] and shown["blocks"]
    assert len(slack.calls_to("chat.postMessage")) == 1  # the crashed run's placeholder only


async def test_a_resumed_job_whose_placeholder_was_deleted_posts_a_new_one(
    slack: FakeSlack, deliverer: SlackDeliverer
) -> None:
    placeholder = await crashed_run(slack)
    slack.delete(placeholder)

    deliverer.resume(event(), placeholder)
    posted = await deliverer.update(event(), "Open the admin console")
    assert posted is not None and posted != placeholder  # the worker stores this one instead
    assert await deliverer.deliver(event(), ANSWER) == posted

    (shown,) = slack.thread(CHANNEL, THREAD)
    assert shown["ts"] == posted and "press Rotate" in shown["text"]


async def test_a_resumed_delivery_whose_placeholder_was_deleted_posts_the_answer(
    slack: FakeSlack, deliverer: SlackDeliverer
) -> None:
    placeholder = await crashed_run(slack)
    slack.delete(placeholder)

    deliverer.resume(event(), placeholder)  # the reply was kept: the retaken job only delivers it
    posted = await deliverer.deliver(event(), ANSWER)

    (shown,) = slack.thread(CHANNEL, THREAD)
    assert shown["ts"] == posted != placeholder and "press Rotate" in shown["text"]
