"""Follow-ups without a mention on Discord: the real discord.py bot against the fake Discord (which hides the text of
messages from a bot without the Message Content intent, as Discord does), the queue, the worker and the agent on a
real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from agent.models import Feedback
from bot.doctor import run_checks
from bot.follow_ups import AnsweredThreads, ThreadState
from core.db import session_scope
from core.health import Check
from core.settings import load_settings
from knowledge.service import KnowledgeBase
from tests.fakes.discord_api import (
    ADMIN,
    ALICE,
    BOT_TOKEN,
    BOT_USER_ID,
    CHANNEL_ID,
    MANAGE_GUILD,
    MESSAGE_CONTENT_INTENT,
    THREAD_ID,
    FakeDiscord,
    ask_option,
    subcommand,
)
from tests.integration.helpers.discord import (
    CALLBACK,
    CHANNEL_MESSAGES,
    FOLLOW_UP,
    QUESTION,
    QUIET,
    discord_app,
    reading,
    reading_server,
)
from tests.integration.helpers.stored import stored_answer_for

THREAD_MESSAGES = rf"/channels/{THREAD_ID}/messages"


@pytest.fixture
async def discord_fake(kb: KnowledgeBase, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    async with reading_server(kb, tmp_path) as fake:
        yield fake


async def state_of_thread(kb: KnowledgeBase, fake: FakeDiscord) -> ThreadState | None:
    threads = AnsweredThreads(kb.sessionmaker)
    return await threads.get(
        tenant=str(fake.guild_id), platform="discord", channel=str(CHANNEL_ID), thread=str(THREAD_ID)
    )


async def thread_becomes(
    kb: KnowledgeBase, fake: FakeDiscord, wanted: Callable[[ThreadState | None], bool], what: str
) -> None:
    """Wait until the thread's record is as wanted: it is written when an answer is delivered, after it is posted."""
    for _ in range(200):
        if wanted(await state_of_thread(kb, fake)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the thread never became {what}: {await state_of_thread(kb, fake)}")


def answered_for(asker: int, *, others_since: int = 0) -> Callable[[ThreadState | None], bool]:
    return lambda state: state == ThreadState(asker=str(asker), others_since=others_since)


async def ask_in_the_thread(fake: FakeDiscord, kb: KnowledgeBase, *, answers_before: int = 0) -> None:
    """ALICE mentions the bot in the thread; its answer is posted and the thread recorded as answered for her."""
    await fake.dispatch("MESSAGE_CREATE", fake.message(QUESTION, channel_id=THREAD_ID))
    await fake.wait_for("POST", THREAD_MESSAGES, count=answers_before + 1)
    await thread_becomes(kb, fake, answered_for(ALICE), "answered for alice")


async def admin_command(fake: FakeDiscord, name: str, **values: str) -> str:
    count = len(fake.calls_to("POST", CALLBACK)) + 1
    interaction = fake.interaction("threadwise", subcommand(name, **values), user_id=ADMIN, permissions=MANAGE_GUILD)
    await fake.dispatch("INTERACTION_CREATE", interaction)
    content: str = (await fake.wait_for("POST", CALLBACK, count=count))[-1].body["data"]["content"]
    return content


def replied_to(call_body: dict[str, Any]) -> str:
    return str(call_body["message_reference"]["message_id"])


async def test_the_askers_follow_ups_are_answered_until_people_talk_among_themselves(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await ask_in_the_thread(fake, kb)
        follow_up = fake.message(FOLLOW_UP, channel_id=THREAD_ID, mentions_bot=False)
        await fake.dispatch("MESSAGE_CREATE", follow_up)
        second = (await fake.wait_for("POST", THREAD_MESSAGES, count=2))[1]

        await fake.dispatch("MESSAGE_CREATE", fake.message("thanks!", channel_id=THREAD_ID, mentions_bot=False))
        colleague = fake.message("I'll rotate it after lunch", author=ADMIN, channel_id=THREAD_ID, mentions_bot=False)
        await fake.dispatch("MESSAGE_CREATE", colleague)
        await thread_becomes(kb, fake, answered_for(ALICE, others_since=1), "talked in by a colleague")
        after = fake.message("great, what about the old tokens?", channel_id=THREAD_ID, mentions_bot=False)
        await fake.dispatch("MESSAGE_CREATE", after)
        await asyncio.sleep(QUIET)
        quiet = len(fake.calls_to("POST", THREAD_MESSAGES))

        await ask_in_the_thread(fake, kb, answers_before=2)  # a mention brings the bot back
        again = fake.message(FOLLOW_UP, channel_id=THREAD_ID, mentions_bot=False)
        await fake.dispatch("MESSAGE_CREATE", again)
        fourth = (await fake.wait_for("POST", THREAD_MESSAGES, count=4))[3]
    assert fake.identify_payloads[0]["intents"] & MESSAGE_CONTENT_INTENT
    assert replied_to(second.body) == follow_up["id"] and "Old tokens stop working" in second.body["content"]
    assert quiet == 2  # neither the thank-you, the colleague, nor alice after the colleague
    assert replied_to(fourth.body) == again["id"]
    assert len(fake.calls_to("POST", THREAD_MESSAGES)) == 4


async def test_a_follow_up_that_mentions_a_colleague_is_left_to_them(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await ask_in_the_thread(fake, kb)
        to_admin = fake.message("can you rotate it for me?", channel_id=THREAD_ID, mentions_bot=False, mentions=[ADMIN])
        await fake.dispatch("MESSAGE_CREATE", to_admin)
        await thread_becomes(kb, fake, answered_for(ALICE, others_since=1), "a message to someone else")
        await asyncio.sleep(QUIET)
    assert len(fake.calls_to("POST", THREAD_MESSAGES)) == 1


async def test_followups_off_answers_mentions_only(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        shown = await admin_command(fake, "followups")
        chosen = await admin_command(fake, "followups", choice="off")
        await ask_in_the_thread(fake, kb)
        await fake.dispatch("MESSAGE_CREATE", fake.message(FOLLOW_UP, channel_id=THREAD_ID, mentions_bot=False))
        (answer,) = fake.calls_to("POST", THREAD_MESSAGES)
        reply = fake.message(FOLLOW_UP, channel_id=THREAD_ID, mentions_bot=False, reply_to=int(answer.response["id"]))
        await fake.dispatch("MESSAGE_CREATE", reply)
        await asyncio.sleep(QUIET)
    assert "Follow-ups here: `asker`" in shown and "asker|anyone|off" in shown
    assert "Follow-ups set to `off`" in chosen
    assert len(fake.calls_to("POST", THREAD_MESSAGES)) == 1
    (registered,) = fake.calls_to("PUT", r"/applications/\d+/commands")
    group = next(c for c in registered.body if c["name"] == "threadwise")
    option = next(o for o in group["options"] if o["name"] == "followups")["options"][0]
    assert [choice["value"] for choice in option["choices"]] == ["asker", "anyone", "off"]
    assert not option.get("required")


async def test_a_channel_whose_mode_is_off_answers_no_follow_ups(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await ask_in_the_thread(fake, kb)
        chosen = await admin_command(fake, "mode", mode="off")
        await fake.dispatch("MESSAGE_CREATE", fake.message(FOLLOW_UP, channel_id=THREAD_ID, mentions_bot=False))
        await asyncio.sleep(QUIET)
    assert "Mode set to `off`" in chosen
    assert len(fake.calls_to("POST", THREAD_MESSAGES)) == 1


async def test_anyone_answers_a_colleagues_follow_up(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        chosen = await admin_command(fake, "followups", choice="anyone")
        await ask_in_the_thread(fake, kb)
        colleague = fake.message(FOLLOW_UP, author=ADMIN, channel_id=THREAD_ID, mentions_bot=False)
        await fake.dispatch("MESSAGE_CREATE", colleague)
        second = (await fake.wait_for("POST", THREAD_MESSAGES, count=2))[1]
    assert "Follow-ups set to `anyone`" in chosen
    assert replied_to(second.body) == colleague["id"]


async def test_a_reply_to_the_answer_is_answered_for_the_asker(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await fake.dispatch("MESSAGE_CREATE", fake.message(QUESTION))  # in the channel, not a thread
        (answer,) = await fake.wait_for("POST", CHANNEL_MESSAGES)
        answer_id = int(answer.response["id"])
        someone_else = fake.message(FOLLOW_UP, author=ADMIN, mentions_bot=False, reply_to=answer_id)
        await fake.dispatch("MESSAGE_CREATE", someone_else)
        reply = fake.message(FOLLOW_UP, mentions_bot=False, reply_to=answer_id)
        await fake.dispatch("MESSAGE_CREATE", reply)
        second = (await fake.wait_for("POST", CHANNEL_MESSAGES, count=2))[1]
        # Discord may leave out the message replied to: it is fetched, once, and comes with its question.
        unresolved = fake.message("and who may rotate it?", mentions_bot=False, reply_to=answer_id, resolved=False)
        await fake.dispatch("MESSAGE_CREATE", unresolved)
        third = (await fake.wait_for("POST", CHANNEL_MESSAGES, count=3))[2]
        await fake.dispatch("MESSAGE_CREATE", fake.message("thanks!", mentions_bot=False, reply_to=answer_id))
        await asyncio.sleep(QUIET)
    assert replied_to(second.body) == reply["id"]
    assert replied_to(third.body) == unresolved["id"]
    assert len(fake.calls_to("GET", rf"{CHANNEL_MESSAGES}/{answer_id}")) == 1
    assert len(fake.calls_to("POST", CHANNEL_MESSAGES)) == 3  # not the colleague's reply, nor the thank-you


async def test_a_reply_to_the_question_after_a_thumbs_down_is_the_comment(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await fake.dispatch("MESSAGE_CREATE", fake.message(QUESTION))
        (answer,) = await fake.wait_for("POST", CHANNEL_MESSAGES)
        stored = await stored_answer_for(kb, answer.response["id"])  # linked to its post: reactions count
        thumbs_down = fake.reaction(answer.response["id"], "👎", user_id=ALICE, author_id=BOT_USER_ID)
        await fake.dispatch("MESSAGE_REACTION_ADD", thumbs_down)
        asked = (await fake.wait_for("POST", CHANNEL_MESSAGES, count=2))[1]
        prompt_id = int(asked.response["id"])
        comment = fake.message("It should say where the console is.", mentions_bot=False, reply_to=prompt_id)
        await fake.dispatch("MESSAGE_CREATE", comment)
        thanked = (await fake.wait_for("POST", CHANNEL_MESSAGES, count=3))[2]
        await asyncio.sleep(QUIET)
    async with session_scope(kb.sessionmaker) as session:
        (vote,) = (await session.scalars(select(Feedback).where(Feedback.message_id == stored.id))).all()
    assert "What was missing" in asked.body["content"]
    assert "passed that on" in thanked.body["content"] and replied_to(thanked.body) == comment["id"]
    assert vote.comment == "It should say where the console is."
    assert len(fake.calls_to("POST", CHANNEL_MESSAGES)) == 3  # the comment is not answered as a question


async def test_a_reply_to_an_ask_answer_is_answered_for_whoever_asked(
    database_url_text: str, discord_fake: FakeDiscord
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await fake.dispatch("INTERACTION_CREATE", fake.interaction("ask", ask_option(QUESTION)))
        (followup,) = await fake.wait_for("POST", r"/webhooks/\d+/[^/]+")
        answer_id = int(followup.response["id"])
        await fake.dispatch(
            "MESSAGE_CREATE", fake.message(FOLLOW_UP, author=ADMIN, mentions_bot=False, reply_to=answer_id)
        )
        reply = fake.message(FOLLOW_UP, mentions_bot=False, reply_to=answer_id)
        await fake.dispatch("MESSAGE_CREATE", reply)
        (answer,) = await fake.wait_for("POST", CHANNEL_MESSAGES)
        await asyncio.sleep(QUIET)
    assert replied_to(answer.body) == reply["id"]
    assert len(fake.calls_to("POST", CHANNEL_MESSAGES)) == 1


async def test_without_the_intent_only_what_discord_shows_is_answered(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    with capture_logs() as logs:
        async with discord_app(database_url_text, fake):  # DISCORD_MESSAGE_CONTENT unset
            await ask_in_the_thread(fake, kb)
            (answer,) = fake.calls_to("POST", THREAD_MESSAGES)
            answer_id = int(answer.response["id"])
            for hidden in (
                fake.message(FOLLOW_UP, channel_id=THREAD_ID, mentions_bot=False),
                fake.message(FOLLOW_UP, channel_id=THREAD_ID, mentions_bot=False, reply_to=answer_id),
            ):
                await fake.dispatch("MESSAGE_CREATE", hidden)
            await asyncio.sleep(QUIET)
            quiet = len(fake.calls_to("POST", THREAD_MESSAGES))
            pinging = fake.message(FOLLOW_UP, channel_id=THREAD_ID, reply_to=answer_id)  # a reply that pings it
            await fake.dispatch("MESSAGE_CREATE", pinging)
            second = (await fake.wait_for("POST", THREAD_MESSAGES, count=2))[1]
    assert not fake.identify_payloads[0]["intents"] & MESSAGE_CONTENT_INTENT
    assert quiet == 1
    assert replied_to(second.body) == pinging["id"]
    assert not [entry for entry in logs if entry["log_level"] in ("error", "critical")]
    assert fake.calls_to("GET", r"/channels/\d+/messages/\d+") == []  # nothing fetched for hidden messages


def discord_check(checks: list[Check]) -> Check:
    (check,) = [check for check in checks if check.name == "discord"]
    return check


async def test_the_doctor_says_whether_message_content_is_read(
    database_url_text: str, discord_fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("DISCORD_API_URL", discord_fake.api_url)
    database = {"url": database_url_text}
    off = discord_check(await run_checks(load_settings(database=database)))
    monkeypatch.setenv("DISCORD_MESSAGE_CONTENT", "true")
    on = discord_check(await run_checks(load_settings(database=database)))
    discord_fake.application_flags = 0  # the Developer Portal's toggle is off
    refused = discord_check(await run_checks(load_settings(database=database)))
    assert off.ok and "DISCORD_MESSAGE_CONTENT off" in off.detail
    assert "follow-ups without a mention" in off.detail and "replies that ping the bot" in off.detail
    assert on.ok and "DISCORD_MESSAGE_CONTENT on" in on.detail and on.detail.startswith("bot Threadwise")
    assert not refused.ok and "Message Content Intent" in refused.detail
    assert all("\n" not in check.detail for check in (off, on, refused))
