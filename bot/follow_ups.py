"""Follow-ups without a mention: in a thread the bot answered, whose later messages it answers unasked.

Each channel chooses (``/threadwise followups``): ``asker`` (default: the person the bot last answered there),
``anyone``, or ``off``. Either way the bot steps back from a message addressed to someone else, from a thank-you,
and from a thread where people have gone on talking among themselves since its last answer; an @mention there
brings it back. The threads are recorded when an answer is delivered (``bot/queue.py``, in the same statement as
the delivered mark) and forgotten after ``FOLLOW_UP_WINDOW``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import AnsweredThread
from core.db import session_scope

FollowUpMode = Literal["asker", "anyone", "off"]
FOLLOW_UP_MODES: tuple[FollowUpMode, ...] = ("asker", "anyone", "off")
FOLLOW_UP_WINDOW = timedelta(days=7)
"""A thread the bot last answered longer ago than this takes an @mention again."""
Verdict = Literal["answer", "aside", "ignore"]
"""answer: a follow-up for the bot; aside: people talking among themselves (the bot steps back until mentioned);
ignore: neither (a thank-you, an empty message, a thread the bot is not in)."""

_WORDS = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_EMOJI_CODE = re.compile(r":[a-z0-9_+\-]{1,64}:")
_ACKNOWLEDGEMENT_WORDS = """
thanks thank thx ty tysm cheers ta great perfect awesome nice cool brilliant excellent wonderful amazing lovely
ok okay k kk got will works worked helps helped helpful sounds good makes sense fixed solved sorted yes yep yeah
appreciated appreciate
"""
_ACKNOWLEDGEMENTS = frozenset(_ACKNOWLEDGEMENT_WORDS.split())
_FILLERS = frozenset(["you", "so", "much", "very", "many", "lot", "a", "that", "this", "it", "all"])
"""Words a thank-you may have beside its words of thanks ("thank you so much", "got it") that are no thank-you
alone. "do" counts only after "will" ("will do"): elsewhere it asks for something ("ok, do it")."""
_MOST_ACKNOWLEDGEMENT_WORDS = 8


@dataclass(frozen=True, slots=True)
class ThreadState:
    asker: str
    """Who the bot answered last in the thread."""
    others_since: int
    """Messages people have written to each other there since that answer."""


def is_thanks(text: str) -> bool:
    """A short acknowledgement ("thanks!", "got it, that works 👍", "🙏"): words of thanks or assent, with at most a
    few words that go with them."""
    if "?" in text:
        return False
    words = _WORDS.findall(_EMOJI_CODE.sub(" ", text.lower()))
    words = [word for index, word in enumerate(words) if not (word == "do" and index and words[index - 1] == "will")]
    return (
        len(words) <= _MOST_ACKNOWLEDGEMENT_WORDS
        and all(word in _ACKNOWLEDGEMENTS or word in _FILLERS for word in words)
        and (not words or any(word in _ACKNOWLEDGEMENTS for word in words))  # an emoji alone ("👍") is one
    )


def judge_follow_up(
    mode: FollowUpMode, thread: ThreadState | None, *, author: str, text: str, addresses_someone_else: bool
) -> Verdict:
    """What a message without a mention of the bot, in a thread of a channel where it may answer, is."""
    if mode == "off" or thread is None or not text.strip():
        return "ignore"
    if addresses_someone_else or (mode == "asker" and author != thread.asker):
        return "aside"
    if thread.others_since > 0 or is_thanks(text):
        return "ignore"
    return "answer"


class AnsweredThreads:
    """Reads the threads the bot answered in, and counts the messages people write to each other there."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def get(self, *, tenant: str, platform: str, channel: str, thread: str) -> ThreadState | None:
        """The thread, if the bot answered there within ``FOLLOW_UP_WINDOW``."""
        if not thread:
            return None
        async with session_scope(self.sessionmaker) as session:
            row = (
                await session.execute(
                    select(AnsweredThread.asker, AnsweredThread.others_since).where(
                        *_key(tenant, platform, channel, thread),
                        AnsweredThread.answered_at > func.now() - FOLLOW_UP_WINDOW,
                    )
                )
            ).first()
        return None if row is None else ThreadState(asker=row.asker, others_since=row.others_since)

    async def aside(self, *, tenant: str, platform: str, channel: str, thread: str) -> None:
        """Note a message people wrote to each other in the thread: follow-ups wait for the next @mention."""
        async with session_scope(self.sessionmaker) as session:
            await session.execute(
                update(AnsweredThread)
                .where(*_key(tenant, platform, channel, thread))
                .values(others_since=AnsweredThread.others_since + 1)
            )


def _key(tenant: str, platform: str, channel: str, thread: str) -> tuple[ColumnElement[bool], ...]:
    return (
        AnsweredThread.tenant == tenant,
        AnsweredThread.platform == platform,
        AnsweredThread.channel == channel,
        AnsweredThread.thread == thread,
    )
