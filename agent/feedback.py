"""Votes on answers (👍 +1, 👎 -1), one per user and answer and changeable, and the comment that may follow.

With Langfuse on, each vote is also a score on its answer's trace (updated when the vote or comment changes).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.models import Conversation, Feedback, Message
from agent.schemas import ConversationKey
from core.db import session_scope
from core.langfuse import LangfuseTracing

MAX_COMMENT_CHARS = 4000
"""A vote's comment is kept (and sent to Langfuse) up to this length."""


@dataclass(frozen=True, slots=True)
class AnswerRef:
    """The stored answer a platform message is, and its conversation (for the thread to reply in)."""

    message_id: int
    conversation_id: int
    channel: str
    thread: str
    trace_id: str | None
    """Read with the answer, so a vote on it need not read the message again for its Langfuse score."""


class FeedbackStore:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, tracing: LangfuseTracing | None = None
    ) -> None:
        self.sessionmaker = sessionmaker
        self.tracing = tracing if tracing is not None else LangfuseTracing()

    async def find_answer(self, *, platform: str, tenant: str, platform_message_id: str) -> AnswerRef | None:
        """The answer posted as ``platform_message_id`` (the message a reaction is on), if it is one."""
        return await self._answer(Message.platform_message_id == platform_message_id, platform=platform, tenant=tenant)

    async def answer(self, *, message_id: int, platform: str, tenant: str) -> AnswerRef | None:
        """Answer ``message_id`` if it was given on ``platform`` to ``tenant`` (votes through the API may only touch
        its own answers)."""
        return await self._answer(Message.id == message_id, platform=platform, tenant=tenant)

    async def _answer(self, which: ColumnElement[bool], *, platform: str, tenant: str) -> AnswerRef | None:
        async with session_scope(self.sessionmaker) as session:
            row = (
                await session.execute(
                    select(
                        Message.id, Message.conversation_id, Conversation.channel, Conversation.thread, Message.trace_id
                    )
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(
                        which,
                        Message.role == "assistant",
                        Conversation.platform == platform,
                        Conversation.tenant == tenant,
                    )
                    .limit(1)
                )
            ).first()
        return AnswerRef(*row) if row else None

    async def vote(
        self,
        *,
        message_id: int,
        user_id: str,
        score: int,
        reaction: str,
        comment: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        """Record or change the user's vote on an answer, with its comment when given (a new vote clears an
        earlier comment request). ``trace_id``: the answer's, when the caller has read it already."""
        if score not in (-1, 1):
            raise ValueError("a vote is +1 or -1")
        comment = _clip(comment) if comment else None
        async with session_scope(self.sessionmaker) as session:
            statement = insert(Feedback).values(
                message_id=message_id, user_id=user_id, score=score, reaction=reaction, comment=comment
            )
            changes: dict[str, object] = {
                "score": score,
                "reaction": reaction,
                "updated_at": statement.excluded.created_at,
            }
            if comment is not None:
                changes |= {"comment": comment, "awaiting_comment": False}
            await session.execute(
                statement.on_conflict_do_update(index_elements=[Feedback.message_id, Feedback.user_id], set_=changes)
            )
            if trace_id is None and self.tracing.enabled:
                trace_id = await _trace_id(session, message_id)
        if trace_id:  # (a no-op with Langfuse off)
            self.tracing.score(trace_id=trace_id, user_id=user_id, value=score, comment=comment)

    async def withdraw(
        self, *, message_id: int, user_id: str, reaction: str | None, trace_id: str | None = None
    ) -> bool:
        """The user removed the reaction their vote came from (``None``: took their vote back, whichever it was):
        the vote goes too. ``trace_id``: the answer's, when the caller has read it already."""
        same_reaction = Feedback.reaction == reaction if reaction is not None else true()
        async with session_scope(self.sessionmaker) as session:
            result = await session.execute(
                delete(Feedback)
                .where(Feedback.message_id == message_id, Feedback.user_id == user_id, same_reaction)
                .returning(Feedback.id)
            )
            withdrawn = result.first() is not None
            if trace_id is None and withdrawn and self.tracing.enabled:
                trace_id = await _trace_id(session, message_id)
        if withdrawn and trace_id:  # (a no-op with Langfuse off)
            await self.tracing.delete_score(trace_id=trace_id, user_id=user_id)
        return withdrawn

    async def comment_awaited(self, key: ConversationKey, *, user_id: str) -> int | None:
        """The 👎 vote in this conversation still waiting for the user's comment, if any (one query: every DM
        and thread reply asks)."""
        async with session_scope(self.sessionmaker) as session:
            return await session.scalar(
                select(Feedback.id)
                .join(Message, Message.id == Feedback.message_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    and_(
                        Conversation.tenant == key.tenant,
                        Conversation.platform == key.platform,
                        Conversation.channel == key.channel,
                        Conversation.thread == key.thread,
                        Feedback.user_id == user_id,
                        Feedback.score == -1,
                        Feedback.comment.is_(None),
                        Feedback.awaiting_comment.is_(True),
                    )
                )
                .order_by(Feedback.updated_at.desc())
                .limit(1)
            )

    async def await_comment(self, *, message_id: int, user_id: str) -> None:
        async with session_scope(self.sessionmaker) as session:
            await session.execute(
                update(Feedback)
                .where(Feedback.message_id == message_id, Feedback.user_id == user_id)
                .values(awaiting_comment=True)
            )

    async def add_comment(self, feedback_id: int, comment: str) -> None:
        """The comment a 👎 asked for (the user's next message in the thread)."""
        comment = _clip(comment)
        async with session_scope(self.sessionmaker) as session:
            row = (
                await session.execute(
                    update(Feedback)
                    .where(Feedback.id == feedback_id)
                    .values(comment=comment, awaiting_comment=False)
                    .returning(Feedback.message_id, Feedback.user_id, Feedback.score)
                )
            ).first()
            trace_id = await _trace_id(session, row.message_id) if row is not None and self.tracing.enabled else None
        if row is not None and trace_id:
            self.tracing.score(trace_id=trace_id, user_id=row.user_id, value=row.score, comment=comment)


def _clip(comment: str) -> str:
    """The part of a comment that is kept: the one place comments are cut to ``MAX_COMMENT_CHARS``."""
    return comment[:MAX_COMMENT_CHARS]


async def _trace_id(session: AsyncSession, message_id: int) -> str | None:
    """The trace id stored with an answer (its Langfuse trace follows from it); asked only with Langfuse on."""
    return await session.scalar(select(Message.trace_id).where(Message.id == message_id))
