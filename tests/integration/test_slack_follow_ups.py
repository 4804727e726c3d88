"""Follow-ups without a mention in Slack threads, and the first-run help: signed events through the real slack-bolt
app, the queue, the worker and the agent on a real PostgreSQL, answers posted through slack_sdk to the fake Slack
Web API."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bot.access.principal import DEFAULT_TENANT
from bot.models import AnsweredThread
from core.db import session_scope
from knowledge.service import KnowledgeBase
from tests.fakes.slack_api import FakeSlack, event_envelope
from tests.integration.helpers.slack import GUIDE, answers, mention, post_event, slack, slack_app, slash, team

__all__ = ["slack", "team"]  # fixtures used below

QUIET_SECONDS = 1.0
"""Long enough for a queued question to have been answered (the others take ~0.2 s here)."""


def in_thread(team: str, thread_ts: str, text: str, *, user: str = "U0ALICE") -> dict[str, Any]:
    event = {
        "type": "message",
        "channel_type": "channel",
        "channel": "C0GENERAL",
        "user": user,
        "text": text,
        "ts": f"{time.time():.6f}",
        "thread_ts": thread_ts,
    }
    return event_envelope(event, event_id=f"Ev{uuid.uuid4().hex[:12]}", team_id=team)


async def asked_in_a_thread(client: httpx.AsyncClient, slack: FakeSlack, kb: KnowledgeBase, team: str) -> str:
    """Alice @mentions the bot; returns the thread once its answer is delivered (and the thread recorded)."""
    envelope = mention(team, "how do I rotate the signing key?")
    before = len(slack.calls_to("chat.postMessage"))
    await post_event(client, envelope)
    await answers(slack, before + 1)
    thread: str = envelope["event"]["ts"]
    for _ in range(100):  # the delivered mark follows the post by a few milliseconds
        async with session_scope(kb.sessionmaker) as session:
            if await session.scalar(select(AnsweredThread.asker).where(AnsweredThread.thread == thread)):
                return thread
        await asyncio.sleep(0.05)
    raise AssertionError("the answered thread was not recorded")


async def replies_after(slack: FakeSlack, count: int) -> list[dict[str, Any]]:
    await asyncio.sleep(QUIET_SECONDS)
    return [call.args for call in slack.calls_to("chat.postMessage")][count:]


async def test_the_asker_s_follow_up_is_answered_once_and_thanks_are_not(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    async with slack_app(database_url_text, slack) as client:
        thread = await asked_in_a_thread(client, slack, kb, team)
        follow_up = in_thread(team, thread, "and how long do old tokens keep working?")
        await post_event(client, follow_up)
        await post_event(client, follow_up)  # Slack's retry of the same event
        (second,) = (await answers(slack, 2))[1:]
        await post_event(client, in_thread(team, thread, "thanks, that works!"))
        later = await replies_after(slack, 2)
    assert second["thread_ts"] == thread and "one hour" in second["text"]
    assert later == []


async def test_a_colleague_joining_in_or_being_addressed_makes_the_bot_step_back_until_mentioned(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    async with slack_app(database_url_text, slack) as client:
        thread = await asked_in_a_thread(client, slack, kb, team)
        await post_event(client, in_thread(team, thread, "<@U0BOB> can you press Rotate for me?"))
        await post_event(client, in_thread(team, thread, "how long do old tokens keep working?"))
        assert await replies_after(slack, 1) == []

        again = await asked_in_a_thread(client, slack, kb, team)  # a mention brings it back (a new thread here)
        await post_event(client, in_thread(team, again, "where is the admin console?", user="U0BOB"))
        await post_event(client, in_thread(team, again, "how long do old tokens keep working?"))
        assert await replies_after(slack, 2) == []  # Bob joined in: Alice and Bob are talking


async def test_anyone_may_follow_up_when_the_channel_says_so_and_nobody_when_off(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    async with slack_app(database_url_text, slack) as client:
        refused = await slash(client, team, "followups anyone")
        assert "Only workspace admins" in refused.text
        changed = await slash(client, team, "followups anyone", user="UADMIN001")
        assert "`anyone`" in changed.text
        thread = await asked_in_a_thread(client, slack, kb, team)
        await post_event(client, in_thread(team, thread, "how long do old tokens keep working?", user="U0BOB"))
        (bobs,) = (await answers(slack, 2))[1:]
        assert bobs["thread_ts"] == thread

        await slash(client, team, "followups off", user="UADMIN001")
        await post_event(client, in_thread(team, thread, "and where is the admin console?", user="U0BOB"))
        assert await replies_after(slack, 2) == []
        shown = await slash(client, team, "followups", user="UADMIN001")
    assert "Follow-ups here: `off`" in shown.text


async def test_threads_the_bot_never_answered_in_are_left_alone(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    async with slack_app(database_url_text, slack) as client:
        await post_event(client, in_thread(team, f"{time.time() - 60:.6f}", "how do I rotate the signing key?"))
        assert await replies_after(slack, 0) == []


async def test_a_workspace_without_documents_is_told_how_to_use_the_local_ones(
    database_url_text: str, slack: FakeSlack, kb: KnowledgeBase, tmp_path: Path
) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    await kb.ingest([str(tmp_path / "guide.md")], tenant=DEFAULT_TENANT, collection="first-run")
    empty_team = f"T{uuid.uuid4().hex[:10].upper()}"
    try:
        async with slack_app(database_url_text, slack) as client:
            await post_event(client, mention(empty_team, "how do I rotate the signing key?"))
            (posted,) = await answers(slack)
    finally:
        await kb.delete_collection(tenant=DEFAULT_TENANT, name="first-run")
    assert "couldn't find" in posted["text"]
    assert f"threadwise ingest PATH --tenant {empty_team}" in posted["text"]
    assert "SLACK_TENANT=local" in posted["text"]
