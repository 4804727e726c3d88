"""A Slack channel's threads synced through ``Sources``, the real slack_sdk client and the real embedder, against the
fake Slack Web API on 127.0.0.1: first sync, an unchanged re-sync, a new reply, a deleted or aged-out thread, a
Slack error in the middle, a rate limit, and a channel the bot is not in; then ``threadwise sources add slack``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.slack.history import slack_history_kind
from core.db import create_sessionmaker, session_scope
from core.settings import KnowledgeSettings, SlackSettings
from knowledge.audience import channel_audience
from knowledge.models import Chunk, Document
from knowledge.service import KnowledgeBase
from knowledge.sources.service import Sources
from tests.counting_embedder import CountingEmbedder
from tests.fakes.slack_api import (
    BOT_TOKEN,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    fake_slack,
)
from tests.integration.helpers.cli import assert_no_traceback, env, run

__all__ = ["env"]  # fixture used below

CHANNEL = "C0HELPDESK"
DAY = 86_400.0


class Clock:
    """The connector's idea of now, moved by the test (threads age out without waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        fake.channels.add(CHANNEL, "help-desk")
        yield fake


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sources(
    engine: AsyncEngine, counting: CountingEmbedder, slack: FakeSlack, waits: list[float], clock: Clock
) -> Sources:
    async def sleep(seconds: float) -> None:  # a rate limit's wait, noted instead of waited
        waits.append(seconds)

    settings = SlackSettings(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=slack.api_url)
    knowledge = KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=counting, settings=KnowledgeSettings())
    return Sources(knowledge, extra_kinds=[slack_history_kind(settings, sleep=sleep, clock=clock)])


async def _add(sources: Sources, tenant: str, *, channel: str = CHANNEL, days: int = 365, private: bool = False) -> str:
    name = f"slack-{channel}"
    await sources.add(
        tenant=tenant,
        name=name,
        kind="slack",
        collection=f"slack-history-{channel}" if private else "slack-history",
        settings={"channel": channel, "days": days},
        audience=channel_audience("slack", channel) if private else None,
    )
    return name


def _permalink(slack: FakeSlack, ts: str, channel: str = CHANNEL) -> str:
    """What Slack's chat.getPermalink says the thread's link is."""
    answer = slack.channels.answer("chat.getPermalink", {"channel": channel, "message_ts": ts})
    assert answer is not None and answer[2]["ok"], answer
    return str(answer[2]["permalink"])


async def _text(sources: Sources, tenant: str, url: str) -> str:
    """A stored document's text, its chunks in order."""
    async with session_scope(sources.knowledge.sessionmaker) as session:
        rows = await session.scalars(
            select(Chunk.content)
            .join(Document, Document.id == Chunk.document_id)
            .where(Document.source_uri == url)
            .order_by(Chunk.ordinal)
        )
        return "\n".join(rows)


def _replies_fetched(slack: FakeSlack, since: int = 0) -> list[str]:
    return [call.args["ts"] for call in slack.calls_to("conversations.replies")[since:]]


async def test_a_channel_synced_then_kept_in_step(
    sources: Sources, slack: FakeSlack, counting: CountingEmbedder, tenant: str
) -> None:
    talk = slack.channels
    rotate = talk.thread(
        CHANNEL, "How do I *rotate* the signing key?", "Open the admin console, choose Security and press Rotate."
    )
    talk.post(CHANNEL, "Threadwise's own answer, not knowledge.", thread_ts=rotate, bot=True)
    logs = talk.thread(CHANNEL, "Where are the staging logs?", "In <https://grafana.example/d/1|the staging board>.")
    talk.post(CHANNEL, "<@U0ALICE> they moved last week, _mind the filter_.", user="U0CAROL", thread_ts=logs)
    long = talk.thread(CHANNEL, "Which regions do we deploy to?", *[f"Region number {n} is live." for n in range(205)])
    talk.post(CHANNEL, "Good morning all", user="U0BOB")  # no replies: not a thread
    talk.post(CHANNEL, "", user="U0DAVE", subtype="channel_join")
    only_bot = talk.post(CHANNEL, "Is the VPN down?")
    talk.post(CHANNEL, "I couldn't find that in the knowledge base.", thread_ts=only_bot, bot=True)
    bots_own = talk.post(CHANNEL, "<@U0ALICE> asked: how do I deploy?", bot=True)
    talk.post(CHANNEL, "thanks", thread_ts=bots_own)
    for n in range(210):  # two pages of history
        talk.post(CHANNEL, f"chatter {n}", user="U0BOB")

    name = await _add(sources, tenant)
    first = await sources.sync(tenant=tenant, name=name)
    assert first.error is None and first.failed == []
    assert (first.listed, first.written) == (3, 3)
    assert sorted(_replies_fetched(slack)) == sorted([rotate, logs, long, long])  # the long thread has two pages
    assert len(slack.calls_to("conversations.history")) == 2
    assert {c.args["limit"] for c in slack.calls_to("conversations.history")} == {"200"}
    status = await sources.get(tenant=tenant, name=name)
    assert (status.state, status.items, status.last_error) == ("idle", 3, None)

    hits = await sources.knowledge.search("How do I rotate the signing key?", tenant=tenant)
    assert hits[0].source_uri == _permalink(slack, rotate) and hits[0].collection == "slack-history"
    assert hits[0].title.startswith("How do I rotate the signing key?")
    rotate_text = await _text(sources, tenant, _permalink(slack, rotate))
    assert "press Rotate" in rotate_text and "Threadwise's own answer" not in rotate_text
    logs_text = await _text(sources, tenant, _permalink(slack, logs))
    assert "[the staging board](https://grafana.example/d/1)" in logs_text
    assert "@Alice they moved last week, *mind the filter*." in logs_text and "U0ALICE" not in logs_text
    assert "Region number 204 is live." in await _text(sources, tenant, _permalink(slack, long))

    # Unchanged: the listing alone, no thread read, nothing embedded.
    replies, embedded = len(slack.calls_to("conversations.replies")), len(counting.embedded)
    again = await sources.sync(tenant=tenant, name=name)
    assert (again.unchanged, again.fetched, again.written, again.pruned) == (3, 0, 0, 0)
    assert _replies_fetched(slack, replies) == []
    assert len(counting.embedded) == embedded

    # A new reply: that thread alone is read again, and only its changed chunk embedded.
    talk.post(CHANNEL, "The staging logs also go to the archive bucket.", user="U0CAROL", thread_ts=logs)
    replies, embedded = len(slack.calls_to("conversations.replies")), len(counting.embedded)
    changed = await sources.sync(tenant=tenant, name=name)
    assert (changed.unchanged, changed.fetched, changed.written) == (2, 1, 1)
    assert _replies_fetched(slack, replies) == [logs]
    fresh = counting.embedded[embedded:]
    assert len(fresh) == 1 and "archive bucket" in fresh[0]

    # The question deleted (Slack leaves a tombstone): the thread is pruned.
    talk.delete(CHANNEL, rotate)
    gone = await sources.sync(tenant=tenant, name=name)
    assert (gone.listed, gone.pruned) == (2, 1)
    assert await _text(sources, tenant, _permalink(slack, rotate)) == ""
    assert (await sources.get(tenant=tenant, name=name)).items == 2


async def test_threads_older_than_the_days_kept_age_out(
    sources: Sources, slack: FakeSlack, clock: Clock, tenant: str
) -> None:
    recent = slack.channels.thread(CHANNEL, "How do I reset staging?", "Run make reset-staging.")
    older = slack.channels.thread(
        CHANNEL, "Who owns the billing service?", "The payments team.", ts=f"{clock.now - 20 * DAY:.6f}"
    )
    name = await _add(sources, tenant, days=30)
    first = await sources.sync(tenant=tenant, name=name)
    assert (first.listed, first.written) == (2, 2)
    history = slack.calls_to("conversations.history")[-1].args
    assert abs(float(history["oldest"]) - (clock.now - 30 * DAY)) < 1

    clock.now += 15 * DAY  # the older thread is now 35 days old
    later = await sources.sync(tenant=tenant, name=name)
    assert (later.listed, later.unchanged, later.pruned) == (1, 1, 1)
    assert await _text(sources, tenant, _permalink(slack, older)) == ""
    assert await _text(sources, tenant, _permalink(slack, recent)) != ""


async def test_a_slack_error_in_the_middle_fails_the_run_and_the_next_completes(
    sources: Sources, slack: FakeSlack, tenant: str
) -> None:
    for n in range(4):
        slack.channels.thread(
            CHANNEL, f"Question {n} about the deploy freeze?", f"Answer {n}: the freeze is on Fridays."
        )
    name = await _add(sources, tenant)
    slack.fail("conversations.replies", error="internal_error", after=2)
    failed = await sources.sync(tenant=tenant, name=name)
    assert failed.error == "Slack conversations.replies failed: internal_error"
    status = await sources.get(tenant=tenant, name=name)
    assert (status.state, status.failures, status.items, status.last_error) == ("failed", 1, 0, failed.error)
    assert await sources.knowledge.search("deploy freeze", tenant=tenant) == []  # nothing half-written

    done = await sources.sync(tenant=tenant, name=name)
    assert done.error is None and done.written == 4
    status = await sources.get(tenant=tenant, name=name)
    assert (status.state, status.failures, status.items) == ("idle", 0, 4)


async def test_a_rate_limit_is_waited_out_within_bounds(
    sources: Sources, slack: FakeSlack, waits: list[float], tenant: str
) -> None:
    slack.channels.thread(CHANNEL, "How do I get a staging account?", "Ask in #it-help with your manager's OK.")
    name = await _add(sources, tenant)
    slack.fail("conversations.history", status=429, retry_after=7)
    first = await sources.sync(tenant=tenant, name=name)
    assert first.error is None and first.written == 1
    assert waits == [7.0]
    assert len(slack.calls_to("conversations.history")) == 2

    slack.fail("conversations.history", status=429, retry_after=3600)  # a wait that long is capped
    again = await sources.sync(tenant=tenant, name=name)
    assert again.error is None and waits == [7.0, 60.0]

    slack.fail("conversations.history", status=429, retry_after=1, times=100)  # Slack never relents
    refused = await sources.sync(tenant=tenant, name=name)
    assert refused.error is not None and "ratelimited" in refused.error
    assert len(waits) == 2 + 5


@pytest.mark.parametrize("private", [False, True])
async def test_a_channel_the_bot_is_not_in_fails_clearly(
    sources: Sources, slack: FakeSlack, tenant: str, private: bool
) -> None:
    slack.channels.add("C0ELSEWHERE", "elsewhere", private=private, member=False)
    name = await _add(sources, tenant, channel="C0ELSEWHERE", private=private)
    report = await sources.sync(tenant=tenant, name=name)
    assert report.error is not None and "/invite @Threadwise" in report.error
    assert BOT_TOKEN not in report.error
    status = await sources.get(tenant=tenant, name=name)
    assert (status.state, status.last_error) == ("failed", report.error)
    assert slack.calls_to("conversations.history") == []


async def test_a_private_channel_is_learnt_only_into_its_own_audience(
    sources: Sources, slack: FakeSlack, tenant: str
) -> None:
    slack.channels.add("C0SECRET", "incident-room", private=True)
    slack.channels.thread("C0SECRET", "What is the rollback codename?", "It is Bluewing.")
    into_public = await _add(sources, tenant, channel="C0SECRET")  # the tenant-wide collection: refused
    refused = await sources.sync(tenant=tenant, name=into_public)
    assert refused.error is not None and "slack:C0SECRET" in refused.error and refused.written == 0
    await sources.remove(tenant=tenant, name=into_public)

    own = await _add(sources, tenant, channel="C0SECRET", private=True)
    done = await sources.sync(tenant=tenant, name=own)
    assert done.error is None and done.written == 1
    assert await sources.knowledge.search("rollback codename", tenant=tenant) == []
    hits = await sources.knowledge.search(
        "rollback codename", tenant=tenant, audiences={channel_audience("slack", "C0SECRET")}
    )
    assert hits and hits[0].collection == "slack-history-C0SECRET"


async def test_without_the_bot_token_the_run_fails_saying_so(
    engine: AsyncEngine, slack: FakeSlack, tenant: str
) -> None:
    knowledge = KnowledgeBase(
        sessionmaker=create_sessionmaker(engine), embedder=CountingEmbedder(), settings=KnowledgeSettings()
    )
    sources = Sources(knowledge, extra_kinds=[slack_history_kind(SlackSettings(api_url=slack.api_url))])
    name = await _add(sources, tenant)
    report = await sources.sync(tenant=tenant, name=name)
    assert report.error == "SLACK_BOT_TOKEN is not set: Slack channels cannot be synced without it"
    assert slack.calls == []


@pytest.mark.slow  # starts threadwise processes
def test_sources_add_slack_from_the_command_line(slack: FakeSlack, env: dict[str, str]) -> None:
    slack.channels.add("C0SECRET", "incident-room", private=True)
    slack.channels.add("C0OUTSIDE", "outside", member=False)
    slack.channels.thread(CHANNEL, "How do I get a staging account?", "Ask in #it-help with your manager's OK.")
    tenant = f"cli:{time.time_ns()}"
    env |= {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url}

    added = run("sources", "add", "slack", CHANNEL, "--every", "6h", "--tenant", tenant, **env)
    assert added.returncode == 0, added.stderr
    assert f"Added source slack-{CHANNEL} (slack, every 6h) → slack-history." in added.stdout
    assert "1 listed" in added.stdout and "1 written" in added.stdout

    # The workspace's id is the tenant by default; a private channel gets a collection of its own.
    private = run("sources", "add", "slack", "C0SECRET", "--no-sync", **env)
    try:
        assert private.returncode == 0, private.stderr
        assert "→ slack-history-C0SECRET." in private.stdout
        [row] = json.loads(run("sources", "list", "--tenant", TEAM_ID, "--json", **env).stdout)
        assert (row["name"], row["collection"], row["settings"]["channel"]) == (
            "slack-C0SECRET",
            "slack-history-C0SECRET",
            "C0SECRET",
        )
    finally:
        run("sources", "remove", "slack-C0SECRET", "--tenant", TEAM_ID, "--yes", **env)

    outside = run("sources", "add", "slack", "C0OUTSIDE", "--tenant", tenant, **env)
    assert outside.returncode == 1 and "invite it with `/invite @Threadwise`" in outside.stderr
    assert_no_traceback(outside)
    unknown = run("sources", "add", "slack", "C0NOWHERE", "--tenant", tenant, **env)
    assert unknown.returncode == 1 and "channel_not_found" in unknown.stderr
    assert_no_traceback(unknown)
    stored = json.loads(run("sources", "list", "--tenant", tenant, "--json", **env).stdout)
    assert [row["name"] for row in stored] == [f"slack-{CHANNEL}"]  # nothing stored for what was refused
    assert run("sources", "remove", f"slack-{CHANNEL}", "--tenant", tenant, "--yes", **env).returncode == 0

    # With many workspaces the command line cannot tell whose install reads the channel: Slack's command can.
    many = {name: value for name, value in env.items() if name != "SLACK_BOT_TOKEN"} | {
        "SLACK_CLIENT_ID": OAUTH_CLIENT_ID,
        "SLACK_CLIENT_SECRET": OAUTH_CLIENT_SECRET,
        "SLACK_TOKENS_SECRET_KEY": Fernet.generate_key().decode(),
    }
    refused = run("sources", "add", "slack", CHANNEL, "--tenant", tenant, **many)
    assert refused.returncode == 1 and "`/threadwise learn on`" in refused.stderr, refused.stderr
    assert_no_traceback(refused)
