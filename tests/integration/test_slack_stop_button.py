"""The Stop button under an answer being written, end to end: a signed mention to the running app (real
slack-bolt), the durable queue and a worker, the agent with a scripted model writing a long answer slowly, the
answer edited into a message with the button under it, and signed clicks on it (``block_actions``)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.slack.stop_button import STOP_ACTION, stop_request, with_stop_button
from tests.fakes.openai_server import Reply, scripted_llm
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack, sign
from tests.integration.helpers.queue import until
from tests.integration.helpers.slack import mention, post_event, slack, slack_app, team

__all__ = ["slack", "team"]  # fixtures used below

QUESTION = "how do I rotate the signing key?"
LONG_ANSWER = " ".join(["Open the admin console, choose Security, and press Rotate [1]."] * 12) + " The end."
ONLY_THE_ASKER = "Only the person who asked can stop this answer."


def stop_button(message: dict[str, Any]) -> dict[str, Any] | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if block["type"] == "actions" and element.get("action_id") == STOP_ACTION:
                return dict(element)
    return None


def click_stop(team: str, message: dict[str, Any], *, user: str) -> str:
    """The form body Slack posts when ``user`` clicks the Stop button under ``message``."""
    button = stop_button(message)
    assert button is not None
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A0APP0001",
        "token": "unused",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
        "trigger_id": f"trig.{uuid.uuid4().hex}",
        "team": {"id": team, "domain": "acme"},
        "channel": {"id": message["channel"], "name": "general"},
        "message": {"type": "message", "ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [
            {
                "type": "button",
                "action_id": STOP_ACTION,
                "block_id": "stop1",
                "text": button["text"],
                "value": button["value"],
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


async def post_click(client: httpx.AsyncClient, body: str) -> httpx.Response:
    headers = sign(body, content_type="application/x-www-form-urlencoded")
    return await client.post("/slack/events", content=body, headers=headers)


async def test_the_asker_stops_an_answer_being_written_and_keeps_what_was_written(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    envelope = mention(team, QUESTION)
    channel, thread_ts = envelope["event"]["channel"], envelope["event"]["ts"]
    slack_settings = {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_url": slack.api_url}
    with scripted_llm(default=Reply(LONG_ANSWER, pause=0.1)) as llm:  # about 12 s, word by word
        model = {"model": "openai:primary", "base_url": llm.base_url, "retry_attempts": 1}
        async with slack_app(
            database_url_text, slack, llm=model, slack=slack_settings | {"native_streaming": False}
        ) as client:
            await post_event(client, envelope)
            await until(lambda: any(stop_button(m) for m in slack.thread(channel, thread_ts)), "the Stop button", 30)
            (shown,) = slack.thread(channel, thread_ts)
            # Someone else's click is refused, and said so to them alone.
            assert (await post_click(client, click_stop(team, shown, user="U0BOB"))).status_code == 200
            (refused,) = await asyncio.to_thread(slack.wait_for, "chat.postEphemeral")
            assert (refused.args["user"], refused.args["text"]) == ("U0BOB", ONLY_THE_ASKER)
            assert (await post_click(client, click_stop(team, shown, user="U0ALICE"))).status_code == 200
            await until(lambda: stop_button(slack.thread(channel, thread_ts)[0]) is None, "the stopped answer", 30)
            await asyncio.sleep(0.5)  # a later edit or a second message would show up now
    (answer,) = slack.thread(channel, thread_ts)
    assert answer["ts"] == shown["ts"]  # the message that showed the answer holds what was written of it
    assert answer["text"].endswith("_Stopped before the end._")
    assert answer["text"].startswith("Open the admin") and "The end." not in answer["text"]
    await until(lambda: llm.cut_short == 1, "the model's stream closed", 5)
    assert len(llm.chat_requests) == 1


def test_a_stop_value_is_read_only_as_written() -> None:
    blocks = with_stop_button("partial", event_id="Ev1", asker="U1")
    written = blocks[1]["elements"][0]["value"]
    assert stop_request(written) is not None and stop_request(written).asker == "U1"  # type: ignore[union-attr]
    for junk in (None, 7, "", "not json", "[1]", '{"event": "Ev1"}', '{"event": 1, "asker": "U1"}', "x" * 2001):
        assert stop_request(junk) is None
    long = with_stop_button("word " * 1000, event_id="Ev1", asker="U1")  # 5,000 characters: two sections
    assert [block["type"] for block in long] == ["section", "section", "actions"]
    assert all(len(block["text"]["text"]) <= 3000 for block in long[:2])
