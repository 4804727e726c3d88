"""Slack's assistant container, end to end: signed events to the running app (real slack-bolt and its
``AsyncAssistant``), the durable queue and worker, the agent on a real PostgreSQL with a scripted model that writes
its answer in pieces, and slack_sdk against the fake Slack Web API's ``assistant.threads.*`` methods and streams."""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any

from tests.fakes.openai_server import Reply, scripted_llm
from tests.fakes.slack_api import FakeSlack, event_envelope
from tests.integration.helpers.queue import until
from tests.integration.helpers.slack import is_whole_answer, mention, post_event, slack, slack_app, team

__all__ = ["slack", "team"]  # fixtures used below

ASKED_HERE = "how do I rotate the signing key?"
ASKED_ELSEWHERE = "what happens to old tokens when I press Rotate?"
QUESTION = "How do I rotate the signing key again?"
ANSWER = "Open the admin console, choose Security, and press Rotate [1]. Old tokens stop working after one hour [1]."
DM = "D0ALICE01"


def thread_started(team: str, thread_ts: str, viewing: str) -> dict[str, Any]:
    thread = {
        "user_id": "U0ALICE",
        "context": {"channel_id": viewing, "team_id": team, "enterprise_id": None},
        "channel_id": DM,
        "thread_ts": thread_ts,
    }
    event = {"type": "assistant_thread_started", "assistant_thread": thread, "event_ts": f"{time.time():.6f}"}
    return event_envelope(event, event_id=f"Ev{uuid.uuid4().hex[:12]}", team_id=team)


def message_in_thread(team: str, thread_ts: str, text: str) -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    event = {
        "type": "message",
        "channel": DM,
        "channel_type": "im",
        "user": "U0ALICE",
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "team": team,
    }
    return event_envelope(event, event_id=f"Ev{uuid.uuid4().hex[:12]}", team_id=team)


def where(envelope: dict[str, Any]) -> tuple[str, str]:
    """The channel and thread of a mention's answer."""
    return envelope["event"]["channel"], envelope["event"]["ts"]


def answered_in(slack: FakeSlack, channel: str, thread_ts: str) -> bool:
    """The thread holds a whole answer: the sources under it, no stream open."""
    return any(is_whole_answer(m) for m in slack.thread(channel, thread_ts))


async def test_an_assistant_thread_greets_offers_the_channels_questions_and_streams_the_answer_under_a_status(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    asked_here, asked_elsewhere = mention(team, ASKED_HERE), mention(team, ASKED_ELSEWHERE, channel="C0PRIVATE")
    thread_ts = f"{time.time():.6f}"
    with scripted_llm(default=Reply(ANSWER, pause=0.1)) as llm:
        model = {"model": "openai:primary", "base_url": llm.base_url, "retry_attempts": 1}
        async with slack_app(database_url_text, slack, llm=model) as client:
            for envelope in (asked_here, asked_elsewhere):  # earlier questions in two channels
                await post_event(client, envelope)
                channel, ts = where(envelope)
                await until(partial(answered_in, slack, channel, ts), "an earlier answer", 30)
            # Alice opens the assistant while looking at #general.
            assert (await post_event(client, thread_started(team, thread_ts, viewing="C0GENERAL"))).status_code == 200
            (prompts,) = slack.calls_to("assistant.threads.setSuggestedPrompts")
            await post_event(client, message_in_thread(team, thread_ts, QUESTION))
            await until(partial(answered_in, slack, DM, thread_ts), "the assistant's answer", 30)
    # A greeting that keeps the thread's context (the channel Alice was looking at), as Bolt stores it.
    greeting, answer = slack.thread(DM, thread_ts)
    assert greeting["text"].startswith("Hi! Ask me about your team's docs")
    assert greeting["metadata"]["event_payload"]["channel_id"] == "C0GENERAL"
    # The prompts are #general's question, not the one asked in another channel.
    assert prompts.args["prompts"] == [{"title": ASKED_HERE, "message": ASKED_HERE}]
    assert prompts.args["channel_id"] == DM and prompts.args["thread_ts"] == thread_ts
    # The status went up first, the thread is titled with its first question, and the answer was streamed.
    (status,) = slack.calls_to("assistant.threads.setStatus")
    (title,) = slack.calls_to("assistant.threads.setTitle")
    (start,) = [call for call in slack.calls_to("chat.startStream") if call.args.get("channel") == DM]
    assert (status.args["channel_id"], status.args["thread_ts"]) == (DM, thread_ts) and status.args["status"]
    assert (title.args["thread_ts"], title.args["title"]) == (thread_ts, QUESTION)
    assert status.at < start.at and start.args["thread_ts"] == thread_ts
    assert answer["ts"] == start.response["ts"] and answer["text"] == ANSWER
    assert "context_actions" in [block["type"] for block in answer["blocks"]]  # the 👍/👎 buttons
    assert slack.calls_to("reactions.add") and all(c.args.get("channel") != DM for c in slack.calls_to("reactions.add"))


async def test_a_dms_own_thread_is_answered_as_any_dm_without_the_assistants_status(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    thread_ts = f"{time.time():.6f}"  # a thread in the DM that no assistant thread started (no greeting, no context)
    envelope = message_in_thread(team, thread_ts, QUESTION)
    async with slack_app(database_url_text, slack) as client:
        await post_event(client, envelope)
        await until(partial(answered_in, slack, DM, thread_ts), "the answer", 30)
    (answer,) = slack.thread(DM, thread_ts)
    assert "press Rotate" in answer["text"]
    reacted = [call.args for call in slack.calls_to("reactions.add") if call.args.get("channel") == DM]
    assert reacted == [{"channel": DM, "name": "eyes", "timestamp": envelope["event"]["ts"]}]
    assert slack.calls_to("assistant.threads.setStatus", "assistant.threads.setTitle") == []
