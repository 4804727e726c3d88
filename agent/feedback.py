"""Votes on answers (👍 +1, 👎 -1), one per user and answer and changeable, and the comment that may follow.

Every method works in the caller's unit of work (``core.db.session_scope``): it executes its statements and leaves
the commit to the caller, so that, say, finding the answer reacted to, storing the vote and waiting for its comment
stand or fall together. With Langfuse on, each vote is also a score on its answer's trace: a method that changes a
vote returns a ``VoteChange``, which the caller hands to ``FeedbackStore.publish`` once its unit of work committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.models import Conversation, Feedback, Message
from agent.schemas import ConversationKey
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


@dataclass(frozen=True, slots=True)
class VoteChange:
    """A vote stored, changed, commented or taken back in the caller's unit of work: what Langfuse is told once
    that commits (``FeedbackStore.publish``)."""

    user_id: str
    score: int
    """+1 or -1; 0 for a vote taken back."""
    trace_id: str | None
    """The answer's trace, when known (it is not looked up with Langfuse off): without one, nothing is told."""
    comment: str | None = None


class FeedbackStore:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, tracing: LangfuseTracing | None = None
    ) -> None:
        self.sessionmaker = sessionmaker
        """For the callers' units of work (``session_scope(store.sessionmaker)``)."""
        self.tracing = tracing if tracing is not None else LangfuseTracing()

    async def find_answer(
        self, session: AsyncSession, *, platform: str, tenant: str, platform_message_id: str
    ) -> AnswerRef | None:
        """The answer posted as ``platform_message_id`` (the message a reaction is on), if it is one."""
        return await self._answer(
            session, Message.platform_message_id == platform_message_id, platform=platform, tenant=tenant
        )

    async def answer(self, session: AsyncSession, *, message_id: int, platform: str, tenant: str) -> AnswerRef | None:
        """Answer ``message_id`` if it was given on ``platform`` to ``tenant`` (votes through the API may only touch
        its own answers)."""
        return await self._answer(session, Message.id == message_id, platform=platform, tenant=tenant)

    async def _answer(
        self, session: AsyncSession, which: ColumnElement[bool], *, platform: str, tenant: str
    ) -> AnswerRef | None:
        row = (
            await session.execute(
                select(Message.id, Message.conversation_id, Conversation.channel, Conversation.thread, Message.trace_id)
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
        session: AsyncSession,
        *,
        message_id: int,
        user_id: str,
        score: int,
        reaction: str,
        comment: str | None = None,
        trace_id: str | None = None,
    ) -> VoteChange:
        """Record or change the user's vote on an answer, with its comment when given (a new vote clears an
        earlier comment request). ``trace_id``: the answer's, when the caller has read it already."""
        if score not in (-1, 1):
            raise ValueError("a vote is +1 or -1")
        comment = _clip(comment) if comment else None
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
        return VoteChange(user_id=user_id, score=score, trace_id=trace_id, comment=comment)

    async def withdraw(
        self,
        session: AsyncSession,
        *,
        message_id: int,
        user_id: str,
        reaction: str | None,
        trace_id: str | None = None,
    ) -> VoteChange | None:
        """The user removed the reaction their vote came from (``None``: took their vote back, whichever it was):
        the vote goes too. None when there was no such vote. ``trace_id``: the answer's, when the caller has read
        it already."""
        same_reaction = Feedback.reaction == reaction if reaction is not None else true()
        result = await session.execute(
            delete(Feedback)
            .where(Feedback.message_id == message_id, Feedback.user_id == user_id, same_reaction)
            .returning(Feedback.id)
        )
        if result.first() is None:
            return None
        if trace_id is None and self.tracing.enabled:
            trace_id = await _trace_id(session, message_id)
        return VoteChange(user_id=user_id, score=0, trace_id=trace_id)

    async def comment_awaited(self, session: AsyncSession, key: ConversationKey, *, user_id: str) -> int | None:
        """The 👎 vote in this conversation still waiting for the user's comment, if any (one query: every DM
        and thread reply asks)."""
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

    async def await_comment(self, session: AsyncSession, *, message_id: int, user_id: str) -> None:
        await session.execute(
            update(Feedback)
            .where(Feedback.message_id == message_id, Feedback.user_id == user_id)
            .values(awaiting_comment=True)
        )

    async def add_comment(self, session: AsyncSession, feedback_id: int, comment: str) -> VoteChange | None:
        """The comment a 👎 asked for (the user's next message in the thread); None when the vote is gone."""
        comment = _clip(comment)
        row = (
            await session.execute(
                update(Feedback)
                .where(Feedback.id == feedback_id)
                .values(comment=comment, awaiting_comment=False)
                .returning(Feedback.message_id, Feedback.user_id, Feedback.score)
            )
        ).first()
        if row is None:
            return None
        trace_id = await _trace_id(session, row.message_id) if self.tracing.enabled else None
        return VoteChange(user_id=row.user_id, score=row.score, trace_id=trace_id, comment=comment)

    async def publish(self, change: VoteChange | None) -> None:
        """Tell Langfuse of a vote changed in a unit of work that has committed (a no-op with Langfuse off, or
        for an answer without a trace)."""
        if change is None or not change.trace_id:
            return
        if change.score == 0:
            await self.tracing.delete_score(trace_id=change.trace_id, user_id=change.user_id)
        else:
            self.tracing.score(
                trace_id=change.trace_id, user_id=change.user_id, value=change.score, comment=change.comment
            )


def _clip(comment: str) -> str:
    """The part of a comment that is kept: the one place comments are cut to ``MAX_COMMENT_CHARS``."""
    return comment[:MAX_COMMENT_CHARS]


async def _trace_id(session: AsyncSession, message_id: int) -> str | None:
    """The trace id stored with an answer (its Langfuse trace follows from it); asked only with Langfuse on."""
    return await session.scalar(select(Message.trace_id).where(Message.id == message_id))
