"""Discord end to end: the real discord.py over HTTP and a websocket against a fake Discord on 127.0.0.1, the
durable queue and worker, and the agent on a real PostgreSQL; answers go out through discord.py's REST client."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE

import pytest
import sentry_sdk
from prometheus_client import REGISTRY
from sqlalchemy import select
from structlog.testing import capture_logs

from agent.models import Conversation, Feedback, Message
from agent.verified import source_uri
from core.db import session_scope
from knowledge.service import KnowledgeBase
from tests.fakes.discord_api import (
    ADMIN,
    ALICE,
    BOT_TOKEN,
    BOT_USER_ID,
    CHANNEL_ID,
    EXPIRED_INTERACTION,
    MANAGE_GUILD,
    OTHER_BOT,
    THREAD_ID,
    FakeDiscord,
    ask_option,
    fake_discord,
    snowflake,
    subcommand,
)
from tests.fakes.openai_server import Reply, scripted_llm
from tests.fakes.sentry_ingest import FakeSentry
from tests.integration.helpers.discord import CALLBACK, CHANNEL_MESSAGES, discord_app, discord_settings
from tests.integration.helpers.sentry import sentry
from tests.integration.helpers.stored import stored_answer_for, verified_documents

__all__ = ["sentry"]  # a fixture used below

GUIDE = """# Deployment guide

## Rotate the signing key

Open the admin console, choose Security, and press Rotate. Old tokens stop working after one hour.
"""
QUESTION = "how do I rotate the signing key?"
FOLLOWUP = r"/webhooks/\d+/[^/]+"


@pytest.fixture
async def discord_fake(kb: KnowledgeBase, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    """A fake Discord whose server (a fresh guild id: the tenant) has the guide ingested."""
    async with fake_discord() as fake:
        (tmp_path / "guide.md").write_text(GUIDE)
        await kb.ingest([str(tmp_path / "guide.md")], tenant=str(fake.guild_id), collection="guide")
        yield fake


async def answered_question(fake: FakeDiscord, kb: KnowledgeBase) -> tuple[str, Message]:
    """Mention the bot with QUESTION; the posted answer's message id and its stored row."""
    await fake.dispatch("MESSAGE_CREATE", fake.message(QUESTION))
    (posted,) = await fake.wait_for("POST", CHANNEL_MESSAGES)
    answer_id: str = posted.response["id"]
    return answer_id, await stored_answer_for(kb, answer_id)


async def test_a_mention_gets_one_reply_with_sources(database_url_text: str, discord_fake: FakeDiscord) -> None:
    question = discord_fake.message(QUESTION)
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("MESSAGE_CREATE", question)
        (posted,) = await discord_fake.wait_for("POST", CHANNEL_MESSAGES)
        await asyncio.sleep(0.5)  # nothing else arrives
    assert len(discord_fake.calls_to("POST", CHANNEL_MESSAGES)) == 1
    assert "press Rotate" in posted.body["content"]
    assert str(posted.body["message_reference"]["message_id"]) == question["id"]
    assert posted.body["allowed_mentions"]["parse"] == [] and not posted.body["allowed_mentions"].get("replied_user")
    (embed,) = posted.body["embeds"]
    assert "Rotate the signing key" in embed["description"]
    assert discord_fake.calls_to("PUT", rf"{CHANNEL_MESSAGES}/{question['id']}/reactions/.+/@me")


async def test_a_mention_in_a_thread_is_its_own_conversation(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION, channel_id=THREAD_ID))
        (posted,) = await discord_fake.wait_for("POST", rf"/channels/{THREAD_ID}/messages")
        answer = await stored_answer_for(kb, posted.response["id"])
    async with session_scope(kb.sessionmaker) as session:
        conversation = await session.get(Conversation, answer.conversation_id)
    assert conversation is not None
    assert (conversation.channel, conversation.thread) == (str(CHANNEL_ID), str(THREAD_ID))


async def test_the_same_message_twice_gets_one_reply(database_url_text: str, discord_fake: FakeDiscord) -> None:
    question = discord_fake.message(QUESTION)
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("MESSAGE_CREATE", question)
        await discord_fake.dispatch("MESSAGE_CREATE", question)  # e.g. replayed after a resume
        await discord_fake.wait_for("POST", CHANNEL_MESSAGES)
        await asyncio.sleep(1.0)
    assert len(discord_fake.calls_to("POST", CHANNEL_MESSAGES)) == 1


async def test_bots_and_the_bot_itself_are_ignored(database_url_text: str, discord_fake: FakeDiscord) -> None:
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION, author=OTHER_BOT, bot=True))
        await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION, author=BOT_USER_ID, bot=True))
        # A message without a mention is not for the bot (and its text is not even visible without the intent).
        await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION, mentions_bot=False))
        await asyncio.sleep(1.5)
    assert discord_fake.calls_to("POST", CHANNEL_MESSAGES) == []


async def test_a_direct_message_is_answered_from_the_dm_tenant(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    dm_channel = snowflake()
    question = discord_fake.message(QUESTION, channel_id=dm_channel, direct=True, mentions_bot=False)
    dm = discord_settings(discord_fake, dm_tenant=str(discord_fake.guild_id))
    async with discord_app(database_url_text, discord_fake, discord=dm):
        await discord_fake.dispatch("MESSAGE_CREATE", question)
        (posted,) = await discord_fake.wait_for("POST", rf"/channels/{dm_channel}/messages")
    assert "press Rotate" in posted.body["content"]


async def test_ask_is_deferred_then_answered_by_followup_with_sources(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    interaction = discord_fake.interaction("ask", ask_option(QUESTION))
    async with discord_app(database_url_text, discord_fake):
        started = time.monotonic()
        await discord_fake.dispatch("INTERACTION_CREATE", interaction)
        (deferred,) = await discord_fake.wait_for("POST", CALLBACK)
        deferred_after = time.monotonic() - started
        (followup,) = await discord_fake.wait_for("POST", FOLLOWUP)
        await asyncio.sleep(0.5)
    assert deferred.path == f"/interactions/{interaction['id']}/{interaction['token']}/callback"
    assert deferred.body["type"] == 5 and deferred_after < 3.0  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert followup.path == f"/webhooks/{interaction['application_id']}/{interaction['token']}"
    assert "press Rotate" in followup.body["content"]
    assert "Rotate the signing key" in followup.body["embeds"][0]["description"]
    assert followup.body["allowed_mentions"]["parse"] == []
    assert discord_fake.calls_to("POST", CHANNEL_MESSAGES) == []


async def test_a_missed_deadline_is_logged_and_answered_in_the_channel(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    discord_fake.fail("POST", CALLBACK, status=404, body=EXPIRED_INTERACTION)
    # Captured as structlog events: what earlier tests did to the process's log handlers does not matter.
    with capture_logs() as logs:
        async with discord_app(database_url_text, discord_fake):
            await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("ask", ask_option(QUESTION)))
            (posted,) = await discord_fake.wait_for("POST", CHANNEL_MESSAGES)
    assert discord_fake.calls_to("POST", FOLLOWUP) == []
    assert posted.body["content"].startswith(f"<@{ALICE}> asked:") and "press Rotate" in posted.body["content"]
    assert any("interaction expired" in entry["event"] and entry["log_level"] == "warning" for entry in logs)


async def test_an_expired_followup_token_falls_back_to_the_channel(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    discord_fake.fail("POST", FOLLOWUP, status=401, body={"message": "Invalid Webhook Token", "code": 50027})
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("ask", ask_option(QUESTION)))
        (posted,) = await discord_fake.wait_for("POST", CHANNEL_MESSAGES)
    assert "press Rotate" in posted.body["content"]


async def test_a_rate_limited_followup_is_retried_and_delivered_once(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    discord_fake.fail("POST", FOLLOWUP, status=429)
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("ask", ask_option(QUESTION)))
        await discord_fake.wait_for("POST", FOLLOWUP, count=2)  # the 429, then the delivery
        await asyncio.sleep(1.0)
    calls = discord_fake.calls_to("POST", FOLLOWUP)
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].body["content"] == calls[1].body["content"]
    assert discord_fake.calls_to("POST", CHANNEL_MESSAGES) == []


async def test_a_long_answer_with_code_is_split_into_two_messages_with_fences_intact(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    code = "```python\n" + "\n".join(f"rotate_key(step={i}) # one step of the rotation" for i in range(25)) + "\n```"
    intro = " ".join(["Open the admin console, choose Security, and press Rotate [1]."] * 24)
    outro = " ".join(["Old tokens stop working after one hour [1]."] * 14)
    text = f"{intro}\n\n{code}\n\n{outro}"
    assert 3300 < len(text) < 3700
    with scripted_llm(default=Reply(text)) as llm:
        settings = {"model": "openai:fake-model", "base_url": llm.base_url}
        async with discord_app(database_url_text, discord_fake, llm=settings):
            await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION))
            first, second = await discord_fake.wait_for("POST", CHANNEL_MESSAGES, count=2)
            await asyncio.sleep(0.5)
    assert len(discord_fake.calls_to("POST", CHANNEL_MESSAGES)) == 2
    contents = [first.body["content"], second.body["content"]]
    assert all(len(content) <= 2000 for content in contents)
    assert all(content.count("```") % 2 == 0 for content in contents)
    assert code in "\n\n".join(contents)
    assert "message_reference" in first.body and "embeds" in second.body  # a reply first; sources under the last


async def test_votes_one_per_user_and_a_thumbs_down_asks_for_a_comment(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    async with discord_app(database_url_text, discord_fake):
        answer_id, stored = await answered_question(discord_fake, kb)
        for emoji in ("👍", "👎🏽"):
            reaction = discord_fake.reaction(answer_id, emoji, user_id=ALICE, author_id=BOT_USER_ID)
            await discord_fake.dispatch("MESSAGE_REACTION_ADD", reaction)
        asked = (await discord_fake.wait_for("POST", CHANNEL_MESSAGES, count=2))[1]
        assert "What was missing" in asked.body["content"]
        assert str(asked.body["message_reference"]["message_id"]) == answer_id
        comment = discord_fake.message("It should say where the admin console is.", reply_to=int(asked.response["id"]))
        await discord_fake.dispatch("MESSAGE_CREATE", comment)
        thanked = (await discord_fake.wait_for("POST", CHANNEL_MESSAGES, count=3))[2]
        votes = await votes_on(kb, stored.id)
        removed = discord_fake.reaction(answer_id, "👎🏽", user_id=ALICE, author_id=None)
        await discord_fake.dispatch("MESSAGE_REACTION_REMOVE", removed)
        await asyncio.sleep(0.5)
        after_removal = await votes_on(kb, stored.id)
    assert [(v.user_id, v.score, v.reaction) for v in votes] == [(str(ALICE), -1, "👎")]
    assert votes[0].comment == "It should say where the admin console is."
    assert "passed that on" in thanked.body["content"]
    assert after_removal == []  # taking the 👎 back withdraws the vote
    assert len(discord_fake.calls_to("POST", CHANNEL_MESSAGES)) == 3  # no answer to the comment


async def test_reactions_on_other_messages_are_not_votes(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    async with discord_app(database_url_text, discord_fake):
        answer_id, stored = await answered_question(discord_fake, kb)
        # The answer's own id, but written by someone else: only the author check keeps this from being a vote.
        someone_elses = discord_fake.reaction(answer_id, "👎", user_id=ADMIN, author_id=ALICE)
        not_an_answer = discord_fake.reaction(str(snowflake()), "👎", user_id=ADMIN, author_id=BOT_USER_ID)
        for reaction in (someone_elses, not_an_answer):
            await discord_fake.dispatch("MESSAGE_REACTION_ADD", reaction)
        await asyncio.sleep(1.0)
    assert await votes_on(kb, stored.id) == []
    assert len(discord_fake.calls_to("POST", CHANNEL_MESSAGES)) == 1


async def test_admin_commands_need_manage_server(database_url_text: str, discord_fake: FakeDiscord) -> None:
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch(
            "INTERACTION_CREATE", discord_fake.interaction("threadwise", subcommand("mode", mode="off"))
        )
        refused = (await discord_fake.wait_for("POST", CALLBACK))[0]
        admin = discord_fake.interaction(
            "threadwise", subcommand("mode", mode="off"), user_id=ADMIN, permissions=MANAGE_GUILD
        )
        await discord_fake.dispatch("INTERACTION_CREATE", admin)
        accepted = (await discord_fake.wait_for("POST", CALLBACK, count=2))[1]
        await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION))
        await asyncio.sleep(1.0)
    assert "Only members who can manage" in refused.body["data"]["content"]
    assert refused.body["data"]["flags"] & 64  # ephemeral
    assert "Mode set to `off`" in accepted.body["data"]["content"]
    assert discord_fake.calls_to("POST", CHANNEL_MESSAGES) == []  # the channel is quiet now
    (registered,) = discord_fake.calls_to("PUT", r"/applications/\d+/commands")
    group = next(c for c in registered.body if c["name"] == "threadwise")
    assert int(group["default_member_permissions"]) == MANAGE_GUILD


async def test_help_and_forget(database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase) -> None:
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("help", []))
        # Before any question in the channel there is nothing to forget.
        await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("forget", []))
        shown, nothing = await discord_fake.wait_for("POST", CALLBACK, count=2)
        # Then a conversation, which /forget does forget.
        await answered_question(discord_fake, kb)
        await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("forget", []))
        forgotten = (await discord_fake.wait_for("POST", CALLBACK, count=3))[2]
    assert "/ask" in shown.body["data"]["content"]
    assert "forget" in nothing.body["data"]["content"].lower()
    assert forgotten.body["data"]["content"].startswith("Forgotten:")
    assert shown.body["data"]["flags"] & 64 and forgotten.body["data"]["flags"] & 64  # ephemeral


async def test_commands_are_registered_only_when_they_change(database_url_text: str, discord_fake: FakeDiscord) -> None:
    async with discord_app(database_url_text, discord_fake):
        pass
    discord_fake.identified.clear()
    async with discord_app(database_url_text, discord_fake):
        pass
    assert len(discord_fake.calls_to("PUT", r"/applications/\d+/commands")) == 1
    dev = discord_settings(discord_fake, dev_guild_id=discord_fake.guild_id)
    discord_fake.identified.clear()
    async with discord_app(database_url_text, discord_fake, discord=dev):
        pass
    assert len(discord_fake.calls_to("PUT", rf"/applications/\d+/guilds/{discord_fake.guild_id}/commands")) == 1


async def votes_on(kb: KnowledgeBase, message_id: int) -> list[Feedback]:
    async with session_scope(kb.sessionmaker) as session:
        return list((await session.scalars(select(Feedback).where(Feedback.message_id == message_id))).all())


async def test_a_process_runs_only_its_shards(database_url_text: str, discord_fake: FakeDiscord) -> None:
    sharded = discord_settings(discord_fake, shard_count=2, shard_ids=[1])
    async with discord_app(database_url_text, discord_fake, discord=sharded):
        await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION))
        (posted,) = await discord_fake.wait_for("POST", CHANNEL_MESSAGES)
    assert [payload["shard"] for payload in discord_fake.identify_payloads] == [[1, 2]]
    assert "press Rotate" in posted.body["content"]


async def test_a_replayed_message_after_a_resume_gets_one_reply(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    question = discord_fake.message(QUESTION)
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("MESSAGE_CREATE", question)
        await discord_fake.wait_for("POST", CHANNEL_MESSAGES)
        await discord_fake.reconnect()
        await asyncio.wait_for(discord_fake.resumed.wait(), timeout=15)
        await discord_fake.dispatch("MESSAGE_CREATE", question)  # Discord replays what the session missed
        await asyncio.sleep(1.0)
    assert len(discord_fake.identify_payloads) == 1 and len(discord_fake.resume_payloads) == 1
    assert discord_fake.resume_payloads[0]["session_id"].startswith("session-")
    assert len(discord_fake.calls_to("POST", CHANNEL_MESSAGES)) == 1


async def test_a_worker_without_the_gateway_delivers_over_rest(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    async with discord_app(database_url_text, discord_fake, worker=False):
        await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("ask", ask_option(QUESTION)))
        await discord_fake.wait_for("POST", CALLBACK)
        await asyncio.sleep(0.5)
        assert discord_fake.calls_to("POST", FOLLOWUP) == []  # stored, not answered: no worker here
        async with discord_app(database_url_text, discord_fake, gateway=False):
            (followup,) = await discord_fake.wait_for("POST", FOLLOWUP)
    assert "press Rotate" in followup.body["content"]
    assert len(discord_fake.identify_payloads) == 1  # the worker never opened a gateway connection


@pytest.mark.slow  # starts `threadwise serve` in a process of its own
async def test_serve_role_discord_runs_the_gateway_without_a_worker(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "DATABASE_URL": database_url_text,
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
        "DISCORD_API_URL": discord_fake.api_url,
        "DISCORD_GATEWAY_URL": discord_fake.gateway_url,
    }
    threadwise = str(Path(sys.executable).parent / "threadwise")
    server = await asyncio.create_subprocess_exec(
        threadwise, "serve", "--role", "discord", "--port", "0", env=env, stdout=PIPE, stderr=PIPE
    )
    try:
        await asyncio.wait_for(discord_fake.identified.wait(), timeout=60)
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(server.communicate(), timeout=60)
    log = (stdout + stderr).decode()
    assert server.returncode == 128 + signal.SIGTERM, log
    assert '"discord gateway starting"' in log and '"worker ready"' not in log
    assert "Traceback" not in log


async def test_a_server_managers_check_mark_verifies_the_answer(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    async with discord_app(database_url_text, discord_fake):
        answer_id, stored = await answered_question(discord_fake, kb)
        for user_id in (ALICE, ADMIN):  # ALICE's ✅ is a 👍; the owner's also verifies
            reaction = discord_fake.reaction(answer_id, "✅", user_id=user_id, author_id=BOT_USER_ID)
            await discord_fake.dispatch("MESSAGE_REACTION_ADD", reaction)
        confirmed = (await discord_fake.wait_for("POST", CHANNEL_MESSAGES, count=2))[1]
        verified = await verified_documents(kb, str(discord_fake.guild_id))
        votes = await votes_on(kb, stored.id)
        removed = discord_fake.reaction(answer_id, "✅", user_id=ADMIN, author_id=None)
        await discord_fake.dispatch("MESSAGE_REACTION_REMOVE", removed)
        undone = (await discord_fake.wait_for("POST", CHANNEL_MESSAGES, count=3))[2]
    assert verified == [source_uri(stored.id)]
    assert "Saved as a verified answer" in confirmed.body["content"]
    assert str(confirmed.body["message_reference"]["message_id"]) == answer_id
    assert sorted(v.score for v in votes) == [1, 1]
    assert discord_fake.calls_to("GET", rf"/guilds/\d+/members/{ADMIN}")  # removals carry no member: fetched
    assert "Removed from the verified answers" in undone.body["content"]
    assert await verified_documents(kb, str(discord_fake.guild_id)) == []


async def test_a_blank_ask_shows_the_help_and_queues_nothing(database_url_text: str, discord_fake: FakeDiscord) -> None:
    async with discord_app(database_url_text, discord_fake):
        await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("ask", ask_option("   ")))
        (shown,) = await discord_fake.wait_for("POST", CALLBACK)
        await asyncio.sleep(1.0)  # an answer, if one were queued, would be posted by now
    assert shown.body["type"] == 4 and shown.body["data"]["flags"] & 64  # a message only the asker sees
    assert "/ask" in shown.body["data"]["content"]
    assert discord_fake.calls_to("POST", FOLLOWUP) == [] and discord_fake.calls_to("POST", CHANNEL_MESSAGES) == []


async def test_channel_settings_offer_what_discord_can_do(database_url_text: str, discord_fake: FakeDiscord) -> None:
    async def admin_command(name: str, **values: str) -> str:
        count = len(discord_fake.calls_to("POST", CALLBACK)) + 1
        interaction = discord_fake.interaction(
            "threadwise", subcommand(name, **values), user_id=ADMIN, permissions=MANAGE_GUILD
        )
        await discord_fake.dispatch("INTERACTION_CREATE", interaction)
        content: str = (await discord_fake.wait_for("POST", CALLBACK, count=count))[-1].body["data"]["content"]
        return content

    async with discord_app(database_url_text, discord_fake):
        chosen = await admin_command("collections", names="guide, handbook")
        cleared = await admin_command("collections", names="All")  # any case, as in Slack
        shown = await admin_command("collections")
        mode = await admin_command("mode")
    assert "now searches guide, handbook" in chosen
    assert "now searches all collections" in cleared and "searches all collections" in shown
    assert "mode is `mention`" in mode and "mention|off" in mode
    (registered,) = discord_fake.calls_to("PUT", r"/applications/\d+/commands")  # the command set, at start
    group = next(c for c in registered.body if c["name"] == "threadwise")
    mode_option = next(o for o in group["options"] if o["name"] == "mode")["options"][0]
    assert [choice["value"] for choice in mode_option["choices"]] == ["mention", "off"]  # no `auto` on Discord


def errors_counted(kind: str) -> float:
    return REGISTRY.get_sample_value("threadwise_errors_total", {"kind": kind}) or 0.0


async def test_failures_are_reported_and_counted_with_the_reference_shown(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase, sentry: FakeSentry
) -> None:
    # A command fails (acknowledging /ask: an error other than "too late"), then a listener (a ✅ taken back,
    # whose member cannot be fetched).
    discord_fake.fail("POST", CALLBACK, status=404, body={"message": "Unknown Channel", "code": 10003})
    discord_fake.fail(
        "GET", rf"/guilds/\d+/members/{ADMIN}", status=404, body={"message": "Unknown Member", "code": 10007}
    )
    before = {kind: errors_counted(kind) for kind in ("discord_command", "discord_listener")}
    with capture_logs() as logs:
        async with discord_app(database_url_text, discord_fake, sentry={"dsn": sentry.dsn, "environment": "ci"}):
            await discord_fake.dispatch("INTERACTION_CREATE", discord_fake.interaction("ask", ask_option(QUESTION)))
            apology = (await discord_fake.wait_for("POST", CALLBACK, count=2))[1]
            await discord_fake.dispatch("MESSAGE_CREATE", discord_fake.message(QUESTION))
            (posted,) = await discord_fake.wait_for("POST", CHANNEL_MESSAGES)
            await stored_answer_for(kb, posted.response["id"])
            removed = discord_fake.reaction(posted.response["id"], "✅", user_id=ADMIN, author_id=None)
            await discord_fake.dispatch("MESSAGE_REACTION_REMOVE", removed)
            await discord_fake.wait_for("GET", rf"/guilds/\d+/members/{ADMIN}")
            sentry_sdk.flush(timeout=5)
            events = await asyncio.to_thread(sentry.wait_for_events, 2)
    shown = apology.body["data"]["content"]
    assert shown.startswith("Sorry, something went wrong") and apology.body["data"]["flags"] & 64
    (listener_line,) = [entry for entry in logs if entry["event"] == "discord listener failed"]
    references = {shown.rsplit("Reference: ", 1)[1].strip(), listener_line["reference_id"]}
    assert references == {event["event_id"] for event in events}  # each reference is its Sentry event's id
    assert all("NotFound" in [value["type"] for value in event["exception"]["values"]] for event in events)
    assert errors_counted("discord_command") == before["discord_command"] + 1
    assert errors_counted("discord_listener") == before["discord_listener"] + 1
