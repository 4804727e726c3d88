"""Slack end to end: signed events posted to the running app (real slack-bolt), the durable queue and worker,
the agent on a real PostgreSQL, and answers posted through the real slack_sdk client to a fake Slack Web API."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy import select

from agent.models import Feedback
from core.db import session_scope
from knowledge.service import KnowledgeBase
from tests.fakes.openai_server import Status, scripted_llm
from tests.fakes.slack_api import (
    BOT_TOKEN,
    BOT_USER_ID,
    FakeSlack,
    event_envelope,
    sign,
)
from tests.fakes.slack_socket import fake_socket_mode
from tests.integration.helpers.slack import answers, mention, post_event, slack, slack_app, slash, team
from tests.integration.helpers.stored import stored_answer_for

__all__ = ["slack", "team"]  # fixtures used below


async def test_a_mention_gets_one_threaded_answer_with_sources(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    envelope = mention(team, "how do I rotate the signing key?")
    async with slack_app(database_url_text, slack) as client:
        started = time.perf_counter()
        response = await post_event(client, envelope)
        ack_ms = (time.perf_counter() - started) * 1000
        assert response.status_code == 200
        (posted,) = await answers(slack)
        await asyncio.sleep(0.3)  # nothing else arrives
    question_ts = envelope["event"]["ts"]
    assert posted["thread_ts"] == question_ts and posted["channel"] == "C0GENERAL"
    assert "press Rotate" in posted["text"]
    context = [b for b in posted["blocks"] if b["type"] == "context"]
    assert "Rotate the signing key" in context[0]["elements"][0]["text"]
    assert [c.args["name"] for c in slack.calls_to("reactions.add")] == ["eyes"]
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert ack_ms < 3000


async def test_a_direct_message_is_answered_in_place(database_url_text: str, slack: FakeSlack, team: str) -> None:
    event = {
        "type": "message",
        "channel_type": "im",
        "user": "U0ALICE",
        "text": "how do I rotate the signing key?",
        "ts": f"{time.time():.6f}",
        "channel": "D0DIRECT",
    }
    async with slack_app(database_url_text, slack) as client:
        assert (await post_event(client, event_envelope(event, event_id="EvDM1", team_id=team))).status_code == 200
        (posted,) = await answers(slack)
    assert posted["channel"] == "D0DIRECT" and "thread_ts" not in posted
    assert "press Rotate" in posted["text"]


async def test_bots_and_the_bot_itself_are_ignored(database_url_text: str, slack: FakeSlack, team: str) -> None:
    own = {"type": "message", "channel_type": "im", "user": BOT_USER_ID, "text": "hi", "ts": "1.1", "channel": "D1"}
    other_bot = {
        "type": "message",
        "channel_type": "im",
        "bot_id": "B0OTHER",
        "text": "hi",
        "ts": "1.2",
        "channel": "D1",
    }
    async with slack_app(database_url_text, slack) as client:
        for index, event in enumerate((own, other_bot)):
            response = await post_event(client, event_envelope(event, event_id=f"EvBot{index}", team_id=team))
            assert response.status_code == 200
        await asyncio.sleep(1.0)
    assert slack.calls_to("chat.postMessage") == []


async def test_retried_deliveries_are_answered_once(database_url_text: str, slack: FakeSlack, team: str) -> None:
    envelope = mention(team, "how do I rotate the signing key?")
    async with slack_app(database_url_text, slack) as client:
        for retry in range(3):
            headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
            assert (await post_event(client, envelope, **headers)).status_code == 200
        await answers(slack)
        await asyncio.sleep(1.0)
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_two_app_instances_answer_a_shared_event_once(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    envelope = mention(team, "how do I rotate the signing key?")
    async with slack_app(database_url_text, slack) as first, slack_app(database_url_text, slack) as second:
        results = await asyncio.gather(post_event(first, envelope), post_event(second, envelope))
        assert [r.status_code for r in results] == [200, 200]
        await answers(slack)
        await asyncio.sleep(1.0)
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Slack-Signature": "v0=" + "0" * 64}, 401),
        (sign("{}", timestamp=int(time.time()) - 600), 401),
    ],
)
async def test_unsigned_or_stale_requests_are_refused(
    database_url_text: str, slack: FakeSlack, team: str, headers: dict[str, str], status: int
) -> None:
    body = json.dumps(mention(team, "how do I rotate the signing key?"))
    async with slack_app(database_url_text, slack) as client:
        response = await client.post("/slack/events", content=body, headers=sign(body) | headers)
        await asyncio.sleep(0.5)
    assert response.status_code == status
    assert slack.calls_to("chat.postMessage") == []


async def test_malformed_json_is_a_400_and_nothing_is_queued(database_url_text: str, slack: FakeSlack) -> None:
    body = '{"type": "event_callback", "event": '
    async with slack_app(database_url_text, slack) as client:
        response = await client.post("/slack/events", content=body, headers=sign(body))
        await asyncio.sleep(0.5)
    assert response.status_code == 400
    assert slack.calls_to("chat.postMessage") == []


async def test_votes_change_and_a_thumbs_down_asks_for_a_comment(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    envelope = mention(team, "how do I rotate the signing key?")
    async with slack_app(database_url_text, slack) as client:
        await post_event(client, envelope)
        (delivered,) = await asyncio.to_thread(slack.wait_for, "chat.postMessage")
        answer_ts = delivered.response["ts"]
        stored = await stored_answer_for(kb, answer_ts)
        item = {"type": "message", "channel": "C0GENERAL", "ts": answer_ts}
        for index, reaction in enumerate(("+1", "-1")):
            added = {"type": "reaction_added", "user": "U0BOB", "reaction": reaction, "item": item}
            added["item_user"] = BOT_USER_ID
            response = await post_event(client, event_envelope(added, event_id=f"EvR{index}", team_id=team))
            assert response.status_code == 200
        asked = await answers(slack, 2)
        assert "What was missing" in asked[1]["text"] and asked[1]["thread_ts"] == envelope["event"]["ts"]
        comment = {
            "type": "message",
            "channel": "C0GENERAL",
            "channel_type": "channel",
            "user": "U0BOB",
            "text": "It should say where the admin console is.",
            "ts": f"{time.time():.6f}",
            "thread_ts": envelope["event"]["ts"],
        }
        await post_event(client, event_envelope(comment, event_id="EvC1", team_id=team))
        thanked = await answers(slack, 3)
        async with session_scope(kb.sessionmaker) as session:
            votes = (await session.scalars(select(Feedback).where(Feedback.message_id == stored.id))).all()
        removed = {"type": "reaction_removed", "user": "U0BOB", "reaction": "-1", "item": item}
        removed["item_user"] = BOT_USER_ID
        assert (await post_event(client, event_envelope(removed, event_id="EvR9", team_id=team))).status_code == 200
    assert [(v.user_id, v.score, v.reaction) for v in votes] == [("U0BOB", -1, "-1")]
    assert votes[0].comment == "It should say where the admin console is."
    assert "passed that on" in thanked[2]["text"]
    async with session_scope(kb.sessionmaker) as session:  # taking the 👎 back withdraws the vote
        assert (await session.scalars(select(Feedback).where(Feedback.message_id == stored.id))).all() == []


async def test_a_rate_limited_post_is_retried_and_delivered_once(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    async with slack_app(database_url_text, slack) as client:
        await post_event(client, mention(team, "how do I rotate the signing key?"))
        await answers(slack, 2)  # the 429, then the delivery
        await asyncio.sleep(1.0)
    calls = slack.calls_to("chat.postMessage")
    assert len(calls) == 2 and calls[0].args["text"] == calls[1].args["text"]


async def test_slash_command_help_ask_and_forget(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    async with slack_app(database_url_text, slack) as client:
        shown = await slash(client, team, "help")
        assert shown.status_code == 200 and "/threadwise ask" in shown.text
        asked = await slash(client, team, "ask how do I rotate the signing key?")
        assert asked.status_code == 200 and "Looking into it" in asked.text
        (posted,) = await answers(slack)
        forgotten = await slash(client, team, "forget")
    assert "thread_ts" not in posted and posted["channel"] == "C0GENERAL"
    assert "<@U0ALICE> asked" in posted["text"] and "press Rotate" in posted["text"]
    assert "Forgotten" in forgotten.text


async def test_only_admins_change_the_mode_and_off_means_quiet(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    async with slack_app(database_url_text, slack) as client:
        refused = await slash(client, team, "mode off")
        assert "Only workspace admins" in refused.text
        changed = await slash(client, team, "mode off", user="UADMIN001")
        assert "Mode set to `off`" in changed.text
        await post_event(client, mention(team, "how do I rotate the signing key?"))
        await asyncio.sleep(1.0)
        assert slack.calls_to("chat.postMessage") == []

        await slash(client, team, "mode auto", user="UADMIN001")
        question = {
            "type": "message",
            "channel_type": "channel",
            "channel": "C0GENERAL",
            "user": "U0ALICE",
            "text": "How do I rotate the signing key?",
            "ts": f"{time.time():.6f}",
        }
        await post_event(client, event_envelope(question, event_id="EvAuto1", team_id=team))
        (posted,) = await answers(slack)
    assert posted["thread_ts"] == question["ts"] and "press Rotate" in posted["text"]


async def test_channel_collections_restrict_the_search(database_url_text: str, slack: FakeSlack, team: str) -> None:
    async with slack_app(database_url_text, slack) as client:
        changed = await slash(client, team, "collections handbook", user="UADMIN001")
        assert "now searches handbook" in changed.text
        await post_event(client, mention(team, "how do I rotate the signing key?"))
        (posted,) = await answers(slack)
        shown = await slash(client, team, "collections", user="UADMIN001")
    # This team has only a "guide" collection: the channel's choice is honoured, and the error says why.
    assert "handbook" in posted["text"] and "Reference" in posted["text"]
    assert "searches handbook" in shown.text


async def test_a_failing_llm_gets_an_apology_with_a_reference(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    with scripted_llm(default=Status(503)) as llm:
        settings = {"model": "openai:primary", "base_url": llm.base_url, "retry_attempts": 2, "retry_backoff": 0.01}
        async with slack_app(database_url_text, slack, llm=settings) as client:
            await post_event(client, mention(team, "how do I rotate the signing key?"))
            (posted,) = await answers(slack)
    assert posted["text"].startswith("Sorry, something went wrong"), posted
    assert "Reference: " in posted["text"]
    assert len(llm.chat_requests) == 2, [r.model for r in llm.chat_requests]


async def test_socket_mode_acks_and_answers_a_mention(database_url_text: str, slack: FakeSlack, team: str) -> None:
    with fake_socket_mode() as socket:
        slack.socket_url = socket.url
        settings = {"bot_token": BOT_TOKEN, "app_token": "xapp-1-A0APP-socket-token", "api_url": slack.api_url}
        async with slack_app(database_url_text, slack, slack=settings):
            envelope_id = await asyncio.to_thread(socket.push_event, mention(team, "how do I rotate the signing key?"))
            await asyncio.to_thread(socket.wait_for_ack, envelope_id)
            (posted,) = await answers(slack)
    assert "press Rotate" in posted["text"]
    assert len(slack.calls_to("apps.connections.open")) >= 1
