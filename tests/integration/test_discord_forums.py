"""Forum channels whose new posts are questions (``/threadwise forum on``): the real discord.py bot against the fake
Discord (a post arrives as THREAD_CREATE, then its first message; without the Message Content intent that message's
text is hidden, as Discord does), the queue, the worker and the agent on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from agent.models import Conversation, Message
from bot.channels import ChannelSettingsStore
from bot.follow_ups import AnsweredThreads, ThreadState
from core.db import session_scope
from knowledge.service import KnowledgeBase
from tests.fakes.discord_api import (
    ADMIN,
    ALICE,
    CHANNEL_ID,
    FORUM_ID,
    MANAGE_GUILD,
    MESSAGE_CONTENT_INTENT,
    OTHER_BOT,
    FakeDiscord,
)
from tests.integration.helpers.discord import (
    CALLBACK,
    FOLLOW_UP,
    QUESTION,
    QUIET,
    discord_app,
    reading,
    reading_server,
)
from tests.integration.helpers.stored import stored_answer_for

TITLE = "Rotating the signing key"


@pytest.fixture
async def discord_fake(kb: KnowledgeBase, tmp_path: Path) -> AsyncIterator[FakeDiscord]:
    async with reading_server(kb, tmp_path, forum_tags=("Security", "Billing")) as fake:
        yield fake


def tag_id(fake: FakeDiscord, name: str) -> int:
    return next(int(tag["id"]) for tag in fake.forum_tags if tag["name"] == name)


def in_post(post_id: int) -> str:
    return rf"/channels/{post_id}/messages"


async def forum_command(
    fake: FakeDiscord, choice: str | None = None, *, channel: int | None = None, where: int = CHANNEL_ID
) -> str:
    """``/threadwise forum [choice:…] [channel:…]`` by a server manager, used in ``where``; the reply only they see."""
    options: list[dict[str, Any]] = []
    resolved = None
    if choice is not None:
        options.append({"name": "choice", "type": 3, "value": choice})
    if channel is not None:
        options.append({"name": "channel", "type": 7, "value": str(channel)})
        resolved = {"channels": {str(channel): {"id": str(channel), "type": 15, "name": "help", "permissions": "0"}}}
    subcommand = [{"name": "forum", "type": 1, "options": options}]
    interaction = fake.interaction(
        "threadwise", subcommand, user_id=ADMIN, permissions=MANAGE_GUILD, channel_id=where, resolved=resolved
    )
    count = len(fake.calls_to("POST", CALLBACK)) + 1
    await fake.dispatch("INTERACTION_CREATE", interaction)
    callback = (await fake.wait_for("POST", CALLBACK, count=count))[-1].body
    assert callback["data"]["flags"] & 64  # ephemeral
    content: str = callback["data"]["content"]
    return content


async def set_mode_off(fake: FakeDiscord, *, where: int) -> None:
    count = len(fake.calls_to("POST", CALLBACK)) + 1
    subcommand = [{"name": "mode", "type": 1, "options": [{"name": "mode", "type": 3, "value": "off"}]}]
    interaction = fake.interaction("threadwise", subcommand, user_id=ADMIN, permissions=MANAGE_GUILD, channel_id=where)
    await fake.dispatch("INTERACTION_CREATE", interaction)
    assert "Mode set to `off`" in (await fake.wait_for("POST", CALLBACK, count=count))[-1].body["data"]["content"]


async def asked(kb: KnowledgeBase, question_id: str) -> Message:
    """The question the agent was asked for the message ``question_id``, as stored with its conversation."""
    async with session_scope(kb.sessionmaker) as session:
        found = await session.scalar(
            select(Message).where(Message.platform_message_id == question_id, Message.role == "user")
        )
    assert found is not None, f"no question stored for message {question_id}"
    return found


async def answered_for(kb: KnowledgeBase, fake: FakeDiscord, post_id: int) -> ThreadState | None:
    """The post's record as a thread the bot answered (written when the answer is delivered, after it is posted)."""
    threads = AnsweredThreads(kb.sessionmaker)
    key = {"tenant": str(fake.guild_id), "platform": "discord", "channel": str(FORUM_ID), "thread": str(post_id)}
    for _ in range(200):
        if (state := await threads.get(**key)) is not None:
            return state
        await asyncio.sleep(0.05)
    return None


async def test_a_new_post_in_a_forum_that_chose_so_is_answered_once_in_its_thread(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        chosen = await forum_command(fake, "on", channel=FORUM_ID)
        post_id = fake.post(TITLE, QUESTION, tags=[tag_id(fake, "Security")])
        starter = await fake.publish(post_id)
        (answer,) = await fake.wait_for("POST", in_post(post_id))
        stored = await stored_answer_for(kb, answer.response["id"])
        mentioning = fake.post(TITLE, QUESTION, mentions_bot=True)  # a question both ways: answered once
        await fake.publish(mentioning)
        await fake.wait_for("POST", in_post(mentioning))
        await asyncio.sleep(QUIET)
    question = await asked(kb, starter["id"])
    async with session_scope(kb.sessionmaker) as session:
        conversation = await session.get(Conversation, stored.conversation_id)
    assert fake.identify_payloads[0]["intents"] & MESSAGE_CONTENT_INTENT
    assert "New posts in <#" in chosen and "are answered" in chosen and "DISCORD_MESSAGE_CONTENT" not in chosen
    assert starter["id"] == str(post_id)  # a post's first message has its thread's id
    assert str(answer.body["message_reference"]["message_id"]) == str(post_id)  # a reply to the post, in its thread
    assert "press Rotate" in answer.body["content"]
    assert question.content == f"{TITLE}\n\n{QUESTION}\n\nTags: Security"  # the title and the chosen tag only
    assert conversation is not None and (conversation.channel, conversation.thread) == (str(FORUM_ID), str(post_id))
    assert len(fake.calls_to("POST", in_post(post_id))) == 1
    assert len(fake.calls_to("POST", in_post(mentioning))) == 1


async def test_the_poster_goes_on_in_the_post_without_a_mention(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await forum_command(fake, "on", channel=FORUM_ID)
        post_id = fake.post(TITLE, QUESTION)
        await fake.publish(post_id)
        await fake.wait_for("POST", in_post(post_id))
        state = await answered_for(kb, fake, post_id)
        follow_up = fake.message(FOLLOW_UP, channel_id=post_id, mentions_bot=False)
        await fake.dispatch("MESSAGE_CREATE", follow_up)
        second = (await fake.wait_for("POST", in_post(post_id), count=2))[1]
    assert state == ThreadState(asker=str(ALICE), others_since=0)
    assert str(second.body["message_reference"]["message_id"]) == follow_up["id"]
    assert "Old tokens stop working" in second.body["content"]


async def test_a_forum_that_did_not_choose_answers_only_posts_that_mention_the_bot(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        quiet_post = fake.post(TITLE, QUESTION)
        await fake.publish(quiet_post)
        shown = await forum_command(fake, where=quiet_post)  # used in one of the forum's posts
        mentioning = fake.post(TITLE, QUESTION, tags=[tag_id(fake, "Security")], mentions_bot=True)
        starter = await fake.publish(mentioning)
        (answer,) = await fake.wait_for("POST", in_post(mentioning))
        await stored_answer_for(kb, answer.response["id"])
        await asyncio.sleep(QUIET)
    question = await asked(kb, starter["id"])
    assert "answered only when they mention me" in shown and "/threadwise forum on|off" in shown
    assert fake.calls_to("POST", in_post(quiet_post)) == []
    assert question.content == f"{TITLE}\n\n{QUESTION}\n\nTags: Security"  # a mention asks with its title, too
    assert len(fake.calls_to("POST", in_post(mentioning))) == 1


async def test_forum_on_is_refused_outside_a_forum(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake), worker=False):  # nothing to answer
        refused = await forum_command(fake, "on")  # in the text channel CHANNEL_ID
    store = ChannelSettingsStore(kb.sessionmaker)
    choice = await store.get(tenant=str(fake.guild_id), platform="discord", channel=str(CHANNEL_ID))
    (registered,) = fake.calls_to("PUT", r"/applications/\d+/commands")
    group = next(c for c in registered.body if c["name"] == "threadwise")
    options = {o["name"]: o for o in next(o for o in group["options"] if o["name"] == "forum")["options"]}
    assert "This is not a forum" in refused and "channel:" in refused
    assert not choice.answer_posts
    assert [c["value"] for c in options["choice"]["choices"]] == ["on", "off"]
    assert options["channel"]["channel_types"] == [15, 16]  # Discord offers only forum and media channels


async def test_a_forum_whose_mode_is_off_and_bots_posts_are_not_answered(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    async with discord_app(database_url_text, fake, discord=reading(fake)):
        await forum_command(fake, "on", channel=FORUM_ID)
        by_a_bot = fake.post(TITLE, QUESTION, author=OTHER_BOT, bot=True)
        await fake.publish(by_a_bot)
        await asyncio.sleep(QUIET)
        answered_bot = len(fake.calls_to("POST", in_post(by_a_bot)))
        await set_mode_off(fake, where=by_a_bot)
        silenced = fake.post(TITLE, QUESTION)
        await fake.publish(silenced)
        await asyncio.sleep(QUIET)
    assert answered_bot == 0
    assert fake.calls_to("POST", in_post(silenced)) == []


async def test_without_the_intent_forum_on_says_so_and_no_post_is_answered(
    database_url_text: str, discord_fake: FakeDiscord, kb: KnowledgeBase
) -> None:
    fake = discord_fake
    with capture_logs() as logs:
        async with discord_app(database_url_text, fake):  # DISCORD_MESSAGE_CONTENT unset
            chosen = await forum_command(fake, "on", channel=FORUM_ID)
            post_id = fake.post(TITLE, QUESTION, tags=[tag_id(fake, "Security")])
            starter = await fake.publish(post_id)
            await asyncio.sleep(QUIET)
    store = ChannelSettingsStore(kb.sessionmaker)
    choice = await store.get(tenant=str(fake.guild_id), platform="discord", channel=str(FORUM_ID))
    assert not fake.identify_payloads[0]["intents"] & MESSAGE_CONTENT_INTENT
    assert starter["content"] == QUESTION  # as written; Discord showed the bot an empty message
    assert choice.answer_posts  # stored all the same
    assert "can't read posts" in chosen and "DISCORD_MESSAGE_CONTENT=true" in chosen
    assert "Message Content Intent" in chosen
    assert fake.calls_to("POST", in_post(post_id)) == []
    assert not [entry for entry in logs if entry["log_level"] in ("error", "critical")]
