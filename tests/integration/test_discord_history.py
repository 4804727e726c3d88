"""The ``discord`` source kind: a forum's threads synced through ``Sources``, the real connector (discord.py's HTTP
client) and the real embedder against a fake Discord on 127.0.0.1; ``/learn`` through the real discord.py bot; and
``threadwise sources add discord`` as a person types it."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.discord.history import DiscordHistoryConnector, DiscordHistorySettings, discord_history_kind
from core.db import create_sessionmaker
from core.settings import DiscordSettings, KnowledgeSettings, load_settings
from knowledge.audience import TENANT_WIDE, channel_audience
from knowledge.service import KnowledgeBase
from knowledge.sources.protocol import ConnectorError
from knowledge.sources.service import Sources
from knowledge.sources.sync import SourceBusy, SyncReport
from tests.counting_embedder import CountingEmbedder
from tests.fakes.discord_api import (
    ADMIN,
    ALICE,
    BOT_TOKEN,
    BOT_USER_ID,
    CHANNEL_ID,
    FORUM_ID,
    MANAGE_GUILD,
    MESSAGE_CONTENT_LIMITED,
    THREAD_ID,
    VIEW_CHANNEL,
    FakeDiscord,
    fake_discord,
    user,
)
from tests.integration.helpers.cli import assert_no_traceback, run
from tests.integration.helpers.discord import CALLBACK, CHANNEL_MESSAGES, discord_app

MESSAGES = r"/channels/\d+/messages"
FOLLOWUP = r"/webhooks/\d+/[^/]+"
ROTATE = "How do I rotate the signing key?"
ROTATE_ANSWER = "Open the admin console, choose Security, and press Rotate. Old tokens stop working after an hour."
NAME = f"discord-{FORUM_ID}"


@pytest.fixture
async def forum() -> AsyncIterator[FakeDiscord]:
    """A fake Discord whose bot may read message text and whose forum everyone may see."""
    async with fake_discord() as fake:
        fake.application_flags = MESSAGE_CONTENT_LIMITED
        fake.everyone_permissions = VIEW_CHANNEL
        yield fake


def discord_for(fake: FakeDiscord) -> DiscordSettings:
    return DiscordSettings(bot_token=BOT_TOKEN, api_url=fake.api_url)


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def sources(engine: AsyncEngine, counting: CountingEmbedder, forum: FakeDiscord) -> Sources:
    knowledge = KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=counting, settings=KnowledgeSettings())
    return Sources(knowledge, extra_kinds=[discord_history_kind(discord_for(forum))])


async def add_forum(
    sources: Sources, fake: FakeDiscord, tenant: str, *, collection: str = "discord-history", **settings: Any
) -> None:
    audience = TENANT_WIDE if collection == "discord-history" else channel_audience("discord", str(FORUM_ID))
    await sources.add(
        tenant=tenant,
        name=NAME,
        kind="discord",
        collection=collection,
        settings={"guild": fake.guild_id, "channel": FORUM_ID, **settings},
        audience=audience,
    )


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def requests_since(fake: FakeDiscord, mark: int, pattern: str = MESSAGES) -> list[str]:
    return [call.path for call in fake.calls[mark:] if re.fullmatch(pattern, call.path)]


def rotate_thread(fake: FakeDiscord) -> int:
    """A forum post answered by a member, thanked by the asker (mentioning the member), and answered by a bot."""
    thread = fake.post(ROTATE, "We need to rotate the signing key before the audit. Where is that done?")
    fake.reply(thread, ROTATE_ANSWER, author=ADMIN)
    fake.reply(thread, "A bot's answer that must not be learned.", author=BOT_USER_ID, bot=True)
    fake.reply(thread, f"Thanks <@{ADMIN}>, that worked!", author=ALICE, mentions=[user(ADMIN, "dana")])
    return thread


async def test_a_forum_synced_then_kept_in_step(
    sources: Sources, forum: FakeDiscord, counting: CountingEmbedder, tenant: str
) -> None:
    rotate = rotate_thread(forum)
    vpn = forum.post("VPN drops every hour", "My VPN disconnects every hour on the hour.", archived=True, at=ago(3))
    forum.reply(vpn, "Renew the WireGuard profile: the old one has a one-hour key lifetime.", at=ago(3))
    printer = forum.post("Printer on floor 3", "Is the floor 3 printer still broken?", archived=True, at=ago(5))
    forum.reply(printer, "It was replaced on Monday; use the queue named floor3-new.", at=ago(5))
    # Not learned: an old post, a post of another channel, a private thread, and questions nobody answered.
    old = forum.post("Old question", "From long ago.", archived=True, at=ago(400))
    forum.reply(old, "An old answer.", at=ago(400))
    elsewhere = forum.post("Elsewhere", "A thread of the text channel.", channel_id=CHANNEL_ID)
    private = forum.post("Private", "A private thread.", thread_type=12)
    for thread in (elsewhere, private):
        forum.reply(thread, "An answer there.")
    forum.post("Unanswered", "Does anyone know the wifi password?")
    only_bots = forum.post("Answered by a bot only", "Where is the style guide?")
    forum.reply(only_bots, "A bot's answer about the style guide.", author=BOT_USER_ID, bot=True)
    await add_forum(sources, forum, tenant)

    first = await sources.sync(tenant=tenant, name=NAME)
    assert first.error is None and first.failed == []
    assert (first.listed, first.written) == (4, 3)  # the post answered by a bot only is read, and not learned
    status = await sources.get(tenant=tenant, name=NAME)
    assert (status.state, status.items, status.last_error) == ("idle", 3, None)
    hits = await sources.knowledge.search("rotate the signing key", tenant=tenant, collections=["discord-history"])
    assert hits[0].source_uri == f"https://discord.com/channels/{forum.guild_id}/{rotate}"
    assert hits[0].title == ROTATE
    learned = "\n".join(counting.embedded)
    assert "press Rotate" in learned and "**Question:**" in learned and "**Reply from the asker:**" in learned
    assert "Thanks @dana, that worked!" in learned and "<@" not in learned  # mentions read as names, never ping
    assert "must not be learned" not in learned and "From long ago" not in learned and "private" not in learned
    assert "Private" not in learned and "Elsewhere" not in learned and "wifi" not in learned
    assert "style guide" not in learned

    # Unchanged: the listing alone, no thread read, nothing embedded.
    mark, embedded = len(forum.calls), len(counting.embedded)
    again = await sources.sync(tenant=tenant, name=NAME)
    assert (again.listed, again.unchanged, again.written, again.chunks_written) == (4, 3, 0, 0)
    assert requests_since(forum, mark) == [f"/channels/{only_bots}/messages"]  # read until a person answers
    assert len(counting.embedded) == embedded

    # A new reply in one thread: only that thread is read, only its changed chunk embedded. One thread deleted.
    forum.reply(vpn, "Update: the new profile fixed it for the whole team.", author=ALICE)
    forum.delete_thread(printer)
    mark, embedded = len(forum.calls), len(counting.embedded)
    changed = await sources.sync(tenant=tenant, name=NAME)
    assert (changed.fetched, changed.written, changed.pruned) == (1, 1, 1)
    assert requests_since(forum, mark) == [f"/channels/{vpn}/messages", f"/channels/{only_bots}/messages"]
    new_texts = counting.embedded[embedded:]
    assert new_texts and all("VPN drops every hour" in text for text in new_texts)
    assert any("fixed it for the whole team" in text for text in new_texts)
    assert (await sources.get(tenant=tenant, name=NAME)).items == 2
    printed = await sources.knowledge.search("floor 3 printer", tenant=tenant, collections=["discord-history"])
    assert all("floor3-new" not in hit.content for hit in printed)


async def test_without_the_message_content_intent_the_run_fails_saying_so_and_indexes_nothing(
    sources: Sources, forum: FakeDiscord, tenant: str
) -> None:
    rotate_thread(forum)
    await add_forum(sources, forum, tenant)
    forum.application_flags = 0  # the portal's switch is off: Discord empties every message
    failed = await sources.sync(tenant=tenant, name=NAME)
    assert failed.error is not None and '"Message Content Intent"' in failed.error
    assert "Developer Portal" in failed.error
    assert requests_since(forum, 0) == []  # known before a message is read
    status = await sources.get(tenant=tenant, name=NAME)
    assert (status.state, status.items, status.last_error) == ("failed", 0, failed.error)

    # The flags say yes but the messages still come back empty: the run fails rather than learn empty threads.
    forum.application_flags, forum.content_visible = MESSAGE_CONTENT_LIMITED, False
    emptied = await sources.sync(tenant=tenant, name=NAME)
    assert emptied.error == failed.error and emptied.written == 0
    assert await sources.knowledge.search("rotate", tenant=tenant, collections=["discord-history"]) == []

    forum.content_visible = None
    done = await sources.sync(tenant=tenant, name=NAME)
    assert done.error is None and done.written == 1


async def test_an_api_error_in_the_middle_is_recorded_and_the_next_run_completes(
    sources: Sources, forum: FakeDiscord, tenant: str
) -> None:
    threads = [forum.post(f"Question {n}", f"What about topic {n}?", at=ago(n)) for n in range(1, 4)]
    for thread in threads:
        forum.reply(thread, "See the handbook.")
    await add_forum(sources, forum, tenant)
    forum.fail("GET", rf"/channels/{threads[1]}/messages", status=503, body={"message": "Service Unavailable"})
    failed = await sources.sync(tenant=tenant, name=NAME)
    assert failed.error is not None and "HTTP 503" in failed.error and f"thread {threads[1]}" in failed.error
    assert BOT_TOKEN not in failed.error
    status = await sources.get(tenant=tenant, name=NAME)
    assert (status.state, status.failures, status.items, status.last_success_at) == ("failed", 1, 0, None)
    assert await sources.knowledge.search("topic", tenant=tenant, collections=["discord-history"]) == []

    done = await sources.sync(tenant=tenant, name=NAME)
    assert done.error is None and done.written == 3
    status = await sources.get(tenant=tenant, name=NAME)
    assert (status.state, status.failures, status.items) == ("idle", 0, 3)


async def test_a_rate_limit_is_waited_out_as_discord_asks(sources: Sources, forum: FakeDiscord, tenant: str) -> None:
    thread = rotate_thread(forum)
    await add_forum(sources, forum, tenant)
    forum.fail("GET", MESSAGES, status=429)  # retry_after 0.3 s in the body
    started = time.monotonic()
    report = await sources.sync(tenant=tenant, name=NAME)
    assert report.error is None and report.written == 1
    assert time.monotonic() - started >= 0.3
    assert [c.status for c in forum.calls_to("GET", rf"/channels/{thread}/messages")] == [429, 200]

    # A wait longer than a sync waits is not waited: the run fails at once, and says so.
    forum.reply(thread, "One more answer.", author=ADMIN)
    forum.fail("GET", MESSAGES, status=429, body={"message": "rate limited", "retry_after": 120.0, "global": False})
    started = time.monotonic()
    refused = await sources.sync(tenant=tenant, name=NAME)
    assert time.monotonic() - started < 5
    assert refused.error is not None and "asked to wait 120 s" in refused.error


async def test_archived_threads_and_long_threads_are_read_page_by_page(
    sources: Sources, forum: FakeDiscord, tenant: str
) -> None:
    for n in range(101):
        archived = forum.post(f"Archived question {n}", f"Archived topic {n}?", at=ago(2 + n / 100))
        forum.reply(archived, f"The answer to topic {n}.", at=ago(2 + n / 100))
        forum.archive(archived, at=ago(2 + n / 100))
    long = forum.post("A long discussion", "The first message of a long discussion.", at=ago(1))
    for n in range(149):
        forum.reply(long, f"Reply number {n} of the discussion.", author=ADMIN)
    stale = forum.post("Still open", "A thread nobody archived.", at=ago(30))
    forum.reply(stale, "Quiet for a month now.", at=ago(30))
    await add_forum(sources, forum, tenant)
    report = await sources.sync(tenant=tenant, name=NAME)
    assert report.error is None and report.listed == 103
    pages = forum.calls_to("GET", rf"/channels/{FORUM_ID}/threads/archived/public")
    assert len(pages) == 2 and "before" not in pages[0].query
    assert pages[1].query["before"] == pages[0].response["threads"][-1]["thread_metadata"]["archive_timestamp"]
    reads = forum.calls_to("GET", rf"/channels/{long}/messages")
    assert [(c.query.get("after"), len(c.response)) for c in reads] == [("0", 100), (reads[0].response[0]["id"], 50)]

    # The caps: the most recently active threads (archived or not), and a thread's first messages.
    await sources.remove(tenant=tenant, name=NAME)
    await add_forum(sources, forum, tenant, max_threads=2, max_messages=120)
    report = await sources.sync(tenant=tenant, name=NAME)
    assert (report.listed, report.written) == (2, 2)
    titles = {hit.title for hit in await sources.knowledge.search("topic discussion open", tenant=tenant, limit=50)}
    assert titles == {"A long discussion", "Archived question 0"}
    hits = await sources.knowledge.search("Reply number 130", tenant=tenant, collections=["discord-history"])
    assert all("Reply number 130 " not in hit.content for hit in hits)
    hits = await sources.knowledge.search("Reply number 110", tenant=tenant, collections=["discord-history"])
    assert any("Reply number 110 " in hit.content for hit in hits)


async def test_a_private_channel_is_learned_only_for_itself(sources: Sources, forum: FakeDiscord, tenant: str) -> None:
    rotate_thread(forum)
    forum.overwrites[FORUM_ID] = [{"id": str(forum.guild_id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)}]
    # Its collection is the whole server's: the run refuses to put the threads there.
    await add_forum(sources, forum, tenant)
    refused = await sources.sync(tenant=tenant, name=NAME)
    assert refused.error is not None and f"discord:{FORUM_ID}" in refused.error and refused.written == 0
    await sources.remove(tenant=tenant, name=NAME)

    await add_forum(sources, forum, tenant, collection=f"discord-history-{FORUM_ID}")
    report = await sources.sync(tenant=tenant, name=NAME)
    assert report.error is None and report.written == 1
    here = {channel_audience("discord", str(FORUM_ID))}
    assert await sources.knowledge.search("rotate the signing key", tenant=tenant, audiences=here)
    assert await sources.knowledge.search("rotate the signing key", tenant=tenant) == []  # not elsewhere


async def test_a_missing_token_or_channel_fails_the_run_with_a_reason(forum: FakeDiscord) -> None:
    settings = DiscordHistorySettings(guild=forum.guild_id, channel=FORUM_ID)
    for discord, reason in [
        (DiscordSettings(api_url=forum.api_url), "DISCORD_BOT_TOKEN is not set"),
        (DiscordSettings(bot_token="revoked", api_url=forum.api_url), r"refused DISCORD_BOT_TOKEN \(HTTP 401\)"),
    ]:
        connector = DiscordHistoryConnector(settings, discord=discord)
        with pytest.raises(ConnectorError, match=reason):
            [item async for item in connector.items()]
        await connector.aclose()
    gone = DiscordHistoryConnector(settings.model_copy(update={"channel": 42}), discord=discord_for(forum))
    with pytest.raises(ConnectorError, match="channel 42 no longer exists"):
        [item async for item in gone.items()]
    await gone.aclose()


# --- /learn through the real discord.py bot ---------------------------------------------------------------------

ADMIN_MEMBER: dict[str, Any] = {"user_id": ADMIN, "permissions": MANAGE_GUILD}
HERE_IN_A_THREAD: dict[str, Any] = ADMIN_MEMBER | {"channel_id": THREAD_ID}  # a thread of CHANNEL_ID


def learn(fake: FakeDiscord, action: str, *, channel: int | None = FORUM_ID, **member: Any) -> dict[str, Any]:
    """``/learn <action> [channel:…]`` as Discord sends it (the channel resolved), by ``member`` (and where)."""
    options: list[dict[str, Any]] = []
    resolved = None
    if channel is not None:
        options = [{"name": "channel", "type": 7, "value": str(channel)}]
        named = {"id": str(channel), "type": 15 if channel == FORUM_ID else 0, "name": "help", "permissions": "0"}
        resolved = {"channels": {str(channel): named}}
    return fake.interaction("learn", [{"name": action, "type": 1, "options": options}], resolved=resolved, **member)


def app_sources(database_url: str, fake: FakeDiscord, kb: KnowledgeBase) -> Sources:
    """The sources as ``serve`` builds them for the fake: with the ``discord`` kind and the bot's token."""
    from bot.services import build_sources

    discord = {"bot_token": BOT_TOKEN, "api_url": fake.api_url}
    return build_sources(load_settings(database={"url": database_url}, discord=discord), kb)


async def followup_text(fake: FakeDiscord, count: int) -> str:
    """The text of the ``count``-th answer to a deferred command, which only its member sees."""
    posted = (await fake.wait_for("POST", FOLLOWUP, count=count))[count - 1]
    assert posted.body["flags"] & 64  # ephemeral
    text: str = posted.body["content"]
    return text


async def synced(sources: Sources, tenant: str) -> SyncReport | None:
    """Sync now; when the worker's schedule got there first, wait for its run instead (None)."""
    try:
        return await sources.sync(tenant=tenant, name=NAME)
    except SourceBusy:
        for _ in range(300):
            if (await sources.get(tenant=tenant, name=NAME)).state != "running":
                return None
            await asyncio.sleep(0.2)
        raise


async def test_learn_on_then_off_from_discord(database_url_text: str, forum: FakeDiscord, kb: KnowledgeBase) -> None:
    thread = rotate_thread(forum)
    tenant = str(forum.guild_id)
    sources = app_sources(database_url_text, forum, kb)
    async with discord_app(database_url_text, forum):
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "on"))  # by a member without Manage Server
        refused = (await forum.wait_for("POST", CALLBACK))[0]
        assert await sources.statuses(tenant=tenant) == []

        await forum.dispatch("INTERACTION_CREATE", learn(forum, "on", **ADMIN_MEMBER))
        on = await followup_text(forum, 1)
        [status] = await sources.statuses(tenant=tenant)
        assert (status.name, status.kind, status.collection) == (NAME, "discord", "discord-history")
        assert status.every_seconds == 6 * 3600 and not status.paused
        assert status.settings == {"guild": forum.guild_id, "channel": FORUM_ID}

        await synced(sources, tenant)
        assert (await sources.get(tenant=tenant, name=NAME)).items == 1
        # What was learned answers a question in another channel of the server, with a link to the thread.
        await forum.dispatch("MESSAGE_CREATE", forum.message(ROTATE))
        (answer,) = await forum.wait_for("POST", CHANNEL_MESSAGES)

        forum.application_flags = 0
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "on", **ADMIN_MEMBER))
        again = await followup_text(forum, 2)
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "status", channel=None, **ADMIN_MEMBER))
        shown = await followup_text(forum, 3)
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "off", **ADMIN_MEMBER))
        off = await followup_text(forum, 4)
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "off", **ADMIN_MEMBER))
        nothing = await followup_text(forum, 5)
        # Without `channel:`, the channel it is used in: in a thread, the thread's channel.
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "off", channel=None, **HERE_IN_A_THREAD))
        parent = await followup_text(forum, 6)

    assert "Only members who can manage this server" in refused.body["data"]["content"]
    assert refused.body["data"]["flags"] & 64
    assert f"Learning from <#{FORUM_ID}>" in on and "`discord-history`" in on and "every 6 hours" in on
    assert "anywhere in this server" in on and "Message Content" not in on
    assert "press Rotate" in answer.body["content"]
    assert f"https://discord.com/channels/{forum.guild_id}/{thread}" in json.dumps(answer.body["embeds"])
    assert f"Already learning from <#{FORUM_ID}>" in again and "**Message Content Intent**" in again
    assert f"<#{FORUM_ID}>: idle, 1 threads" in shown
    assert f"Stopped learning from <#{FORUM_ID}>, and forgot the 1 thread learned" in off
    assert "not learning" in nothing
    assert f"not learning from <#{CHANNEL_ID}>" in parent
    assert await sources.statuses(tenant=tenant) == []
    assert await kb.search("rotate the signing key", tenant=tenant) == []
    (registered,) = forum.calls_to("PUT", r"/applications/\d+/commands")
    group = next(c for c in registered.body if c["name"] == "learn")
    assert int(group["default_member_permissions"]) == MANAGE_GUILD


async def test_learn_on_a_private_channel_keeps_it_to_that_channel(
    database_url_text: str, forum: FakeDiscord, kb: KnowledgeBase
) -> None:
    forum.overwrites[FORUM_ID] = [{"id": str(forum.guild_id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)}]
    tenant = str(forum.guild_id)
    sources = app_sources(database_url_text, forum, kb)
    async with discord_app(database_url_text, forum):
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "on", **ADMIN_MEMBER))
        on = await followup_text(forum, 1)
        [private] = await sources.statuses(tenant=tenant)
        # Made visible to everyone since: `on` moves it to the server-wide collection.
        forum.overwrites.clear()
        await forum.dispatch("INTERACTION_CREATE", learn(forum, "on", **ADMIN_MEMBER))
        moved = await followup_text(forum, 2)
        [public] = await sources.statuses(tenant=tenant)
        await sources.remove(tenant=tenant, name=NAME)
    assert f"`discord-history-{FORUM_ID}`" in on and "only questions asked in it" in on
    assert private.collection == f"discord-history-{FORUM_ID}"
    assert "`discord-history`" in moved and public.collection == "discord-history"


# --- threadwise sources add discord -----------------------------------------------------------------------------


@pytest.mark.slow  # starts threadwise
async def test_sources_add_discord_from_the_command_line(
    database_url_text: str, forum: FakeDiscord, tmp_path: Path
) -> None:
    rotate_thread(forum)
    env = {
        "DATABASE_URL": database_url_text,
        "APP_DATA_DIR": str(tmp_path / "data"),
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
        "DISCORD_API_URL": forum.api_url,
    }
    tenant, guild = f"cli:{forum.guild_id}", str(forum.guild_id)

    async def threadwise(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run, *args, **env)  # the fake answers in this test's event loop

    added = await threadwise(
        "sources", "add", "discord", str(FORUM_ID), "--guild", guild, "--tenant", tenant, "--every", "6h"
    )
    assert added.returncode == 0, added.stderr
    assert f"Added source {NAME} (discord, every 6h) → discord-history." in added.stdout
    assert "1 listed" in added.stdout and "1 written" in added.stdout

    forum.application_flags = 0
    failed = await threadwise("sources", "sync", NAME, "--tenant", tenant)
    assert failed.returncode == 1 and "Message Content Intent" in failed.stderr
    missing = await threadwise("sources", "add", "discord", "42", "--guild", guild, "--tenant", tenant)
    assert missing.returncode == 1 and "channel 42 no longer exists" in missing.stderr
    for result in (failed, missing):
        assert_no_traceback(result)
    removed = await threadwise("sources", "remove", NAME, "--tenant", tenant, "--yes")
    assert removed.returncode == 0 and "its 1 documents" in removed.stdout
