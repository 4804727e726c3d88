"""Conversation tables: one conversation per platform thread (or channel), its messages, and votes on answers.

Messages are never deleted to "forget": ``forget`` moves the conversation's memory start past them, so the
history behind feedback and reports stays intact while the agent stops seeing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base

Role = Literal["user", "assistant"]
Outcome = Literal["answered", "abstained", "error"]
OUTCOMES: tuple[Outcome, ...] = ("answered", "abstained", "error")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("tenant", "platform", "channel", "thread"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(200))
    thread: Mapped[str] = mapped_column(String(200), server_default="")
    """The thread's id, or '' when the whole channel (or DM) is one conversation."""
    summary: Mapped[str] = mapped_column(Text, server_default="")
    """Rolling summary of the turns older than the verbatim window."""
    summary_through: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Id of the last message the summary covers."""
    memory_from: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Messages with a smaller id were forgotten: the agent no longer sees them."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
        CheckConstraint("outcome IS NULL OR outcome IN ('answered', 'abstained', 'error')", name="outcome"),
        Index(None, "conversation_id", "id"),
        Index(None, "platform_message_id"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(200))
    platform_message_id: Mapped[str | None] = mapped_column(String(200))
    standalone_question: Mapped[str | None] = mapped_column(Text)
    """The question as the agent searched for it (follow-ups condensed with the thread)."""
    model: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    retrieved_chunk_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    retrieved_scores: Mapped[list[float] | None] = mapped_column(ARRAY(Float))
    cited_sources: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    """Source URIs the answer cited (they outlive chunk ids when a document is ingested again)."""
    outcome: Mapped[str | None] = mapped_column(String(16))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Feedback(Base):
    """One vote per user and answer; voting again changes it."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("message_id", "user_id"),
        CheckConstraint("score IN (-1, 1)", name="score"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(SmallInteger)
    reaction: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    awaiting_comment: Mapped[bool] = mapped_column(Boolean, server_default="false")
    """After a 👎 the bot asks what was missing; the user's next message in the thread becomes the comment."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
