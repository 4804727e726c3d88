"""``/threadwise learn on|off`` end to end (signed slash commands to the running app, real slack-bolt, the fake Slack
Web API), and the privacy rule it relies on: a private channel's threads are quoted in that channel only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.slack.history import slack_history_kind
from core.settings import SlackSettings
from knowledge.service import KnowledgeBase
from knowledge.sources.service import Sources
from knowledge.sources.sync import SourceBusy
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack, event_envelope, fake_slack, sign
from tests.integration.helpers.slack import answers, mention, post_event, slack_app, team

__all__ = ["team"]  # fixture used below

ADMIN = "UADMIN001"  # the fake's users.info says ids starting with UADMIN are workspace admins
PUBLIC, PRIVATE, OUTSIDE, HIDDEN = "C0HELPDESK", "C0SECRET", "C0OUTSIDE", "C0HIDDEN"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        fake.channels.add("C0GENERAL", "general")
        fake.channels.add(PUBLIC, "help-desk")
        fake.channels.add(PRIVATE, "incident-room", private=True)
        fake.channels.add(OUTSIDE, "outside", member=False)
        fake.channels.add(HIDDEN, "hidden", private=True, member=False)
        yield fake


@pytest.fixture
async def sources(kb: KnowledgeBase, slack: FakeSlack, team: str) -> AsyncIterator[Sources]:
    """The team's sources as the worker syncs them; those the test made are removed after (so that no later
    test's scheduler syncs them against a fake that is gone)."""
    settings = SlackSettings(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=slack.api_url)
    found = Sources(kb, extra_kinds=[slack_history_kind(settings)])
    yield found
    for status in await found.statuses(tenant=team):
        await found.remove(tenant=team, name=status.name)


async def learn(client: httpx.AsyncClient, team: str, channel: str, text: str, *, user: str = ADMIN) -> str:
    """``/threadwise <text>`` typed in ``channel``; the ephemeral reply's text."""
    form = {
        "command": "/threadwise",
        "text": text,
        "team_id": team,
        "channel_id": channel,
        "user_id": user,
        "trigger_id": f"trig.{uuid.uuid4().hex}",
        "response_url": "http://127.0.0.1:9/unused",
    }
    body = urlencode(form)
    response = await client.post(
        "/slack/events", content=body, headers=sign(body, content_type="application/x-www-form-urlencoded")
    )
    assert response.status_code == 200, response.text
    if not response.headers["content-type"].startswith("application/json"):
        return response.text  # a plain-text reply: Slack shows it to the one who typed the command only
    reply: dict[str, Any] = response.json()
    assert reply.get("response_type", "ephemeral") == "ephemeral"
    return str(reply["text"])


async def sync(sources: Sources, team: str, name: str) -> None:
    """Sync now; if the app's scheduler is at it already, wait for it and sync again."""
    for _ in range(150):
        try:
            report = await sources.sync(tenant=team, name=name)
        except SourceBusy:
            await asyncio.sleep(0.2)
            continue
        assert report.error is None, report.error
        return
    raise AssertionError(f"{name} stayed busy")


async def test_admins_turn_learning_on_and_off(
    database_url_text: str, slack: FakeSlack, team: str, sources: Sources
) -> None:
    async with slack_app(database_url_text, slack) as client:
        refused = await learn(client, team, PUBLIC, "learn on", user="U0ALICE")
        assert "Only workspace admins" in refused
        assert await sources.statuses(tenant=team) == []

        on = await learn(client, team, PUBLIC, "learn on")
        assert "Learning from #help-desk" in on and "`slack-history`" in on and "any channel" in on
        status = await sources.get(tenant=team, name=f"slack-{PUBLIC}")
        assert (status.kind, status.collection, status.settings, status.every_seconds, status.paused) == (
            "slack",
            "slack-history",
            {"channel": PUBLIC, "team": team},  # the workspace: with many, whose install reads the channel
            6 * 3600,
            False,
        )
        # Never synced: due now, so the worker's scheduler takes it at its next tick (within a minute).
        assert status.next_run_at is not None and status.next_run_at <= datetime.now(UTC) + timedelta(minutes=1)

        again = await learn(client, team, PUBLIC, "learn on")
        assert "first read starts within a minute" in again
        assert len(await sources.statuses(tenant=team)) == 1

        off = await learn(client, team, PUBLIC, "learn off")
        assert "Stopped learning" in off
        assert f"`threadwise sources remove slack-{PUBLIC} --tenant {team}`" in off
        assert (await sources.get(tenant=team, name=f"slack-{PUBLIC}")).paused
        resumed = await learn(client, team, PUBLIC, "learn on")
        assert "Learning from #help-desk again: its threads are read next <!date^" in resumed
        assert not (await sources.get(tenant=team, name=f"slack-{PUBLIC}")).paused

        private = await learn(client, team, PRIVATE, "learn on")
        assert f"`slack-history-{PRIVATE}`" in private and "only in this channel" in private
        assert (await sources.get(tenant=team, name=f"slack-{PRIVATE}")).collection == f"slack-history-{PRIVATE}"

        assert "Invite me to #outside first" in await learn(client, team, OUTSIDE, "learn on")
        assert "I can't see this channel" in await learn(client, team, HIDDEN, "learn on")
        assert {s.name for s in await sources.statuses(tenant=team)} == {f"slack-{PUBLIC}", f"slack-{PRIVATE}"}

        slack.channels.thread(PUBLIC, "How do I get a staging account?", "Ask in #it-help with your manager's OK.")
        await sync(sources, team, f"slack-{PUBLIC}")
        shown = await learn(client, team, PUBLIC, "learn")
        assert "Learning from this channel: 1 thread, last read <!date^" in shown
        assert "Not learning from this channel" in await learn(client, team, "C0GENERAL", "learn off")

        # Made private: what it said in public is taken out of the workspace-wide collection, and learnt anew.
        slack.channels.set_private(PUBLIC)
        moved = await learn(client, team, PUBLIC, "learn on")
        assert "This channel is now private: what was learnt from it before (1 thread) was removed." in moved
        assert f"`slack-history-{PUBLIC}`" in moved
        assert (await sources.get(tenant=team, name=f"slack-{PUBLIC}")).collection == f"slack-history-{PUBLIC}"
        assert await sources.knowledge.search("staging account", tenant=team, collections=["slack-history"]) == []


async def test_a_private_channels_threads_are_quoted_only_there(
    database_url_text: str, slack: FakeSlack, team: str, sources: Sources
) -> None:
    slack.channels.thread(
        PRIVATE,
        "How do we roll back the billing service?",
        "Flip the Bluewing switch in the deploy console, then restart billing.",
    )
    question = "how do we roll back the billing service?"
    async with slack_app(database_url_text, slack) as client:
        assert "Learning from #incident-room" in await learn(client, team, PRIVATE, "learn on")
        await sync(sources, team, f"slack-{PRIVATE}")

        await post_event(client, mention(team, question, channel="C0GENERAL"))
        elsewhere = (await answers(slack, 1))[-1]
        direct = {
            "type": "message",
            "channel_type": "im",
            "user": "U0ALICE",
            "text": question,
            "ts": f"{time.time():.6f}",
            "channel": "D0DIRECT",
        }
        await post_event(client, event_envelope(direct, event_id=f"Ev{uuid.uuid4().hex[:12]}", team_id=team))
        in_a_dm = (await answers(slack, 2))[-1]
        await post_event(client, mention(team, question, channel=PRIVATE))
        inside = (await answers(slack, 3))[-1]
    assert (elsewhere["channel"], in_a_dm["channel"], inside["channel"]) == ("C0GENERAL", "D0DIRECT", PRIVATE)
    assert "Bluewing" not in str(elsewhere) and "Bluewing" not in str(in_a_dm)
    assert "Bluewing" in inside["text"]
