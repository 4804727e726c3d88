"""Forum channels whose new posts are questions (``/threadwise forum on``), chosen per forum by server managers.

A forum is where people go to ask, so there each new post is answered without a mention, as a reply in its own
thread; the poster goes on there as in any thread the bot answered (``bot/follow_ups.py``). A post is a thread
(THREAD_CREATE) and its first message, which has the thread's id; that message is answered, so a post that also
mentions the bot is the same question (``message:<id>``) and is answered once. Elsewhere a forum's posts are
answered only when they mention the bot, their title and tags included all the same.

Discord shows a bot the text of a post that does not mention it only with the privileged Message Content intent
(``DISCORD_MESSAGE_CONTENT``). Without it such posts arrive empty and are not answered: a title alone is too little
to answer, and an answer to half a question misleads.
"""

from __future__ import annotations

from typing import Literal

import discord

from bot.channels import ChannelSettingsStore

ForumChoice = Literal["on", "off"]

NOT_A_FORUM = (
    "This is not a forum: only the new posts of a forum (or media) channel can be answered. Use "
    "`/threadwise forum` in one of the forum's posts, or name the forum with `channel:`."
)
ANSWERED = (
    "New posts in <#{channel}> are answered: each post's title, tags and text are the question, and the answer is "
    "a reply in the post, where the poster can go on without a mention (`/threadwise followups`)."
)
NOT_ANSWERED = "New posts in <#{channel}> are answered only when they mention me."
UNREADABLE = (
    "⚠️ I can't read posts yet: Discord hides their text from me until I have the Message Content intent. Switch "
    "on **Message Content Intent** in the Discord Developer Portal (your application → **Bot**), then set "
    "`DISCORD_MESSAGE_CONTENT=true` and restart Threadwise. Until then only posts that mention me are answered."
)


def starter_post(message: discord.Message) -> discord.Thread | None:
    """The forum post ``message`` starts, if it is a post's first message (which has the id of its thread)."""
    thread = message.channel
    if (
        isinstance(thread, discord.Thread)
        and thread.id == message.id
        and isinstance(thread.parent, discord.ForumChannel)  # media channels too
    ):
        return thread
    return None


def post_question(post: discord.Thread, text: str) -> str:
    """The question a post asks: its title (often the question itself), its text, then its tags.

    The tags are included because posters choose them instead of writing what the post is about: the product, the
    version, the area ("billing", "v2"). With them the question is searched in the right part of the documents.
    """
    tags = ", ".join(tag.name for tag in post.applied_tags)
    parts = [post.name.strip(), text.strip(), f"Tags: {tags}" if tags else ""]
    return "\n\n".join(part for part in parts if part)


def forum_of(channel: object) -> discord.ForumChannel | None:
    """The forum a command is used for: the channel itself, or the forum of the post (thread) it is used in."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    return channel if isinstance(channel, discord.ForumChannel) else None


async def change_answer_posts(
    store: ChannelSettingsStore,
    *,
    tenant: str,
    forum: discord.ForumChannel | None,
    by: str,
    choice: ForumChoice | None,
    reads_posts: bool,
) -> str:
    """``/threadwise forum``; returns the reply. Nothing shows the forum's choice. ``reads_posts``: whether the
    gateway asked for the Message Content intent (else ``on`` is stored, and the reply says what is missing)."""
    if forum is None:
        return NOT_A_FORUM
    channel = str(forum.id)
    if choice is None:
        answered = (await store.get(tenant=tenant, platform="discord", channel=channel)).answer_posts
        shown = ANSWERED if answered else NOT_ANSWERED
        text = f"{shown.format(channel=forum.id)} Use `/threadwise forum on|off`."
    else:
        answered = choice == "on"
        await store.update(tenant=tenant, platform="discord", channel=channel, by=by, answer_posts=answered)
        text = (ANSWERED if answered else NOT_ANSWERED).format(channel=forum.id)
    if answered and not reads_posts:
        text += f"\n{UNREADABLE}"
    return text
