"""The 👍/👎 feedback buttons under a Slack answer, end to end: a mention answered by the worker and the agent on a
real PostgreSQL (posted through slack_sdk to the fake Slack Web API), then clicks posted to the running app as Slack
posts them (a signed ``application/x-www-form-urlencoded`` body ``payload=<json>`` of type ``block_actions``)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from agent.models import Feedback
from agent.schemas import AnswerReply
from bot.slack.feedback_buttons import FEEDBACK_ACTION
from bot.slack.formatting import answer_messages
from core.db import session_scope
from knowledge.service import KnowledgeBase
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, FakeSlack, event_envelope, sign
from tests.integration.helpers.slack import mention, post_event, slack, slack_app, team
from tests.integration.helpers.stored import stored_answer_for
from tests.sources import source

__all__ = ["slack", "team"]  # fixtures used below

QUESTION = "how do I rotate the signing key?"


def buttons_of(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The feedback buttons element of a message's blocks (its one ``context_actions`` block)."""
    (block,) = [b for b in blocks if b["type"] == "context_actions"]
    (element,) = block["elements"]
    assert element["type"] == "feedback_buttons"
    return dict(element)


def click(team: str, answer: dict[str, Any], *, button: str, user: str = "U0BOB", value: str | None = None) -> str:
    """The form body Slack posts when ``user`` of workspace ``team`` clicks ``button`` (``positive_button`` or
    ``negative_button``) under the posted ``answer`` (a ``chat.postMessage`` call's arguments and response);
    ``value`` replaces the button's own."""
    ts, channel, thread_ts = answer["ts"], answer["channel"], answer.get("thread_ts")
    element = buttons_of(answer["blocks"])
    pressed = element[button]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": "A0APP0001",
        "token": "unused",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
            "thread_ts": thread_ts,
        },
        "trigger_id": f"trig.{uuid.uuid4().hex}",
        "team": {"id": team, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": BOT_ID,
            "user": BOT_USER_ID,
            "text": answer["text"],
            "ts": ts,
            "thread_ts": thread_ts,
            "blocks": answer["blocks"],
        },
        "state": {"values": {}},
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [
            {
                "type": "feedback_buttons",
                "action_id": element["action_id"],
                "block_id": "fb1",
                "text": pressed["text"],
                "value": pressed["value"] if value is None else value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


async def post_click(client: httpx.AsyncClient, body: str, **signing: Any) -> httpx.Response:
    headers = sign(body, content_type="application/x-www-form-urlencoded", **signing)
    return await client.post("/slack/events", content=body, headers=headers)


async def answered(client: httpx.AsyncClient, slack: FakeSlack, team: str) -> tuple[dict[str, Any], str]:
    """Ask in ``team`` and wait for the answer: the message as people see it (posted, or edited into the message
    that showed it as it was written) and the question's ts."""
    envelope = mention(team, QUESTION)
    question_ts = envelope["event"]["ts"]
    await post_event(client, envelope)

    def with_buttons() -> dict[str, Any]:
        for _ in range(1500):
            for message in slack.thread("C0GENERAL", question_ts):
                if any(block["type"] == "context_actions" for block in message.get("blocks") or []):
                    return message
            time.sleep(0.02)
        raise AssertionError(f"no answer with feedback buttons in the thread: {slack.calls}")

    return await asyncio.to_thread(with_buttons), question_ts


def saying(slack: FakeSlack, words: str) -> list[dict[str, Any]]:
    """The bot's posts so far whose text has ``words``."""
    return [call.args for call in slack.calls_to("chat.postMessage") if words in (call.args.get("text") or "")]


async def said(slack: FakeSlack, words: str) -> dict[str, Any]:
    """Wait for the bot's first post with ``words``."""
    for _ in range(1500):
        if found := saying(slack, words):
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing posted saying {words!r}: {slack.calls}")


async def votes_on(kb: KnowledgeBase, answer_id: int) -> list[tuple[str, int, str | None]]:
    async with session_scope(kb.sessionmaker) as session:
        found = await session.scalars(select(Feedback).where(Feedback.message_id == answer_id))
        return [(v.user_id, v.score, v.reaction) for v in found]


async def test_clicks_are_votes_like_reactions_and_a_thumbs_down_asks_for_a_comment(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    async with slack_app(database_url_text, slack) as client:
        posted, question_ts = await answered(client, slack, team)
        stored = await stored_answer_for(kb, posted["ts"])
        element = buttons_of(posted["blocks"])
        assert posted["blocks"][-1]["type"] == "context_actions" and element["action_id"] == FEEDBACK_ACTION
        assert element["positive_button"]["value"] == f"up:{stored.id}"
        assert element["negative_button"]["value"] == f"down:{stored.id}"
        assert element["positive_button"]["accessibility_label"] and element["negative_button"]["accessibility_label"]
        # A 👍 reaction, the 👍 button twice (the same vote again), then the 👎 button: one vote, changed to -1.
        item = {"type": "message", "channel": posted["channel"], "ts": posted["ts"]}
        reacted = {"type": "reaction_added", "user": "U0BOB", "reaction": "+1", "item_user": BOT_USER_ID, "item": item}
        assert (await post_event(client, event_envelope(reacted, event_id="EvR1", team_id=team))).status_code == 200
        assert await votes_on(kb, stored.id) == [("U0BOB", 1, "+1")]
        for button in ("positive_button", "positive_button", "negative_button"):
            response = await post_click(client, click(team, posted, button=button))
            assert response.status_code == 200
        assert await votes_on(kb, stored.id) == [("U0BOB", -1, "-1")]
        (asked,) = saying(slack, "What was missing")  # asked once, after the 👎
        assert "<@U0BOB>" in asked["text"]
        assert asked["thread_ts"] == question_ts and asked["channel"] == posted["channel"]
        comment = {
            "type": "message",
            "channel": posted["channel"],
            "channel_type": "channel",
            "user": "U0BOB",
            "text": "It should say where the admin console is.",
            "ts": f"{time.time():.6f}",
            "thread_ts": question_ts,
        }
        await post_event(client, event_envelope(comment, event_id="EvC1", team_id=team))
        thanked = await said(slack, "passed that on")
    assert thanked["thread_ts"] == question_ts
    async with session_scope(kb.sessionmaker) as session:
        (vote,) = (await session.scalars(select(Feedback).where(Feedback.message_id == stored.id))).all()
    assert (vote.score, vote.comment) == (-1, "It should say where the admin console is.")


async def test_a_click_from_another_workspace_records_nothing(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    async with slack_app(database_url_text, slack) as client:
        posted, _ = await answered(client, slack, team)
        stored = await stored_answer_for(kb, posted["ts"])
        elsewhere = f"T{uuid.uuid4().hex[:10].upper()}"
        response = await post_click(client, click(elsewhere, posted, button="negative_button"))
        assert response.status_code == 200
        assert await votes_on(kb, stored.id) == []
        assert saying(slack, "What was missing") == []
        # The same click from the answer's own workspace counts.
        assert (await post_click(client, click(team, posted, button="negative_button"))).status_code == 200
    assert await votes_on(kb, stored.id) == [("U0BOB", -1, "-1")]


async def test_values_we_did_not_write_and_unsigned_clicks_record_nothing(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    async with slack_app(database_url_text, slack) as client:
        posted, _ = await answered(client, slack, team)
        stored = await stored_answer_for(kb, posted["ts"])
        for value in (
            "down:abc",
            "sideways:" + str(stored.id),
            f"down:{stored.id}:1",
            "down:-" + str(stored.id),
            "down:99999999999999999999999",  # beyond bigint
            f"down:{2**63 - 1}",  # the largest bigint: no such answer
            "",
        ):
            response = await post_click(client, click(team, posted, button="negative_button", value=value))
            assert response.status_code == 200, value
        good = click(team, posted, button="negative_button")
        refused = await post_click(client, good, secret="not-the-signing-secret")
        stale = await post_click(client, good, timestamp=int(time.time()) - 3600)
    assert refused.status_code == 401 and stale.status_code == 401
    assert await votes_on(kb, stored.id) == []
    assert saying(slack, "What was missing") == []


def test_only_a_stored_answer_gets_buttons_under_its_last_part() -> None:
    long = AnswerReply(text="word " * 2000, outcome="answered", sources=[source(1, "a.md")], message_id=42)
    messages = answer_messages(long)
    assert len(messages) == 3
    assert [any(b["type"] == "context_actions" for b in blocks) for _, blocks in messages] == [False, False, True]
    assert messages[-1][1][-1]["type"] == "context_actions"  # under the sources
    abstained = AnswerReply(text="I couldn't find that in the docs.", outcome="abstained", message_id=43)
    assert buttons_of(answer_messages(abstained)[0][1])["negative_button"]["value"] == "down:43"
    for unstored in (
        AnswerReply(text="Sorry, something went wrong (ref abc).", outcome="error"),
        AnswerReply(text="Sorry, something went wrong (ref abc).", outcome="error", message_id=44),
        AnswerReply(text="Too many questions right now.", outcome="answered"),
    ):
        ((_, blocks),) = answer_messages(unstored)
        assert all(b["type"] != "context_actions" for b in blocks)
