"""Votes on answers (👍 +1, 👎 -1), one per user and answer and changeable, and the comment that may follow."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.models import Conversation, Feedback, Message
from agent.schemas import ConversationKey
from core.db import session_scope


@dataclass(frozen=True, slots=True)
class AnswerRef:
    """The stored answer a platform message is, and its conversation (for the thread to reply in)."""

    message_id: int
    conversation_id: int
    channel: str
    thread: str


class FeedbackStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def find_answer(self, *, platform: str, tenant: str, platform_message_id: str) -> AnswerRef | None:
        async with session_scope(self.sessionmaker) as session:
            row = (
                await session.execute(
                    select(Message.id, Message.conversation_id, Conversation.channel, Conversation.thread)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(
                        Message.platform_message_id == platform_message_id,
                        Message.role == "assistant",
                        Conversation.platform == platform,
                        Conversation.tenant == tenant,
                    )
                    .limit(1)
                )
            ).first()
        return AnswerRef(*row) if row else None

    async def is_answer(self, *, message_id: int, platform: str, tenant: str) -> bool:
        """Whether ``message_id`` is an answer given on ``platform`` to ``tenant`` (votes through the API may only
        touch its own answers)."""
        async with session_scope(self.sessionmaker) as session:
            found = await session.scalar(
                select(Message.id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Message.id == message_id,
                    Message.role == "assistant",
                    Conversation.platform == platform,
                    Conversation.tenant == tenant,
                )
            )
            return found is not None

    async def vote(self, *, message_id: int, user_id: str, score: int, reaction: str) -> None:
        """Record or change the user's vote on an answer (a new vote clears an earlier comment request)."""
        if score not in (-1, 1):
            raise ValueError("a vote is +1 or -1")
        async with session_scope(self.sessionmaker) as session:
            statement = insert(Feedback).values(message_id=message_id, user_id=user_id, score=score, reaction=reaction)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[Feedback.message_id, Feedback.user_id],
                    set_={"score": score, "reaction": reaction, "updated_at": statement.excluded.created_at},
                )
            )

    async def withdraw(self, *, message_id: int, user_id: str, reaction: str) -> bool:
        """The user removed the reaction their vote came from: the vote goes too."""
        async with session_scope(self.sessionmaker) as session:
            result = await session.execute(
                delete(Feedback)
                .where(Feedback.message_id == message_id, Feedback.user_id == user_id, Feedback.reaction == reaction)
                .returning(Feedback.id)
            )
            return result.first() is not None

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

    async def comment_on_vote(self, *, message_id: int, user_id: str, comment: str) -> bool:
        """Attach a comment to the user's vote on an answer; False when there is no such vote."""
        async with session_scope(self.sessionmaker) as session:
            result = await session.execute(
                update(Feedback)
                .where(Feedback.message_id == message_id, Feedback.user_id == user_id)
                .values(comment=comment[:4000], awaiting_comment=False)
                .returning(Feedback.id)
            )
            return result.first() is not None

    async def add_comment(self, feedback_id: int, comment: str) -> None:
        async with session_scope(self.sessionmaker) as session:
            await session.execute(
                update(Feedback)
                .where(Feedback.id == feedback_id)
                .values(comment=comment[:4000], awaiting_comment=False)
            )
