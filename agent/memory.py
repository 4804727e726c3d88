"""Conversation memory in PostgreSQL: the latest turns verbatim within a token budget, a rolling summary of
the older ones, and ``forget``. Everything survives restarts because nothing is kept in the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Select, Table, func, insert, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.models import Conversation, Message
from agent.schemas import ConversationKey
from core.db import statement_scope

# Enough for any sane budget; bounds the read for very long threads.
MAX_TURNS_READ = 60


def estimate_tokens(text_: str) -> int:
    """About four characters per token for English with common tokenizers; memory only needs a budget."""
    return len(text_) // 4 + 1


@dataclass(frozen=True, slots=True)
class Turn:
    id: int
    role: str
    content: str
    question: str | None = None
    """For user turns, the standalone question the agent searched for."""


@dataclass(frozen=True, slots=True)
class Memory:
    conversation_id: int
    summary: str = ""
    turns: list[Turn] = field(default_factory=list)
    """The latest turns, oldest first, within the token budget."""
    overflow: list[Turn] = field(default_factory=list)
    """Older turns outside the budget that the summary does not cover yet."""

    @property
    def is_empty(self) -> bool:
        """A new conversation: no earlier turns, no summary of them."""
        return not self.turns and not self.summary

    @property
    def earlier_questions(self) -> list[str]:
        """The standalone questions asked so far (oldest first) — what extractive mode condenses with."""
        return [t.question or t.content for t in [*self.overflow, *self.turns] if t.role == "user"]


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One exchange to store: the question and what the agent replied."""

    question: str
    standalone_question: str
    answer: str
    outcome: str
    user_id: str | None = None
    platform_message_id: str | None = None
    model: str | None = None
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunk_ids: Sequence[int] = ()
    scores: Sequence[float] = ()
    cited_sources: Sequence[str] = ()
    trace_id: str | None = None


_UPSERT = text(
    "INSERT INTO conversations (tenant, platform, channel, thread) "
    "VALUES (:tenant, :platform, :channel, :thread) "
    "ON CONFLICT (tenant, platform, channel, thread) DO UPDATE SET updated_at = now() "
    "RETURNING id, summary, summary_through, memory_from"
)


# Every answer runs the statements below: built once, on the table rather than through the ORM's unit of work.
# Measured here, building a statement on each call and flushing ORM objects cost more CPU than the round trips.
_messages = cast(Table, Message.__table__)
_conversations = cast(Table, Conversation.__table__)


def _latest_turns(conversation_id: ColumnElement[int], memory_from: ColumnElement[int]) -> Select[Any]:
    """The latest remembered turns of a conversation, newest first."""
    return (
        select(_messages.c.id, _messages.c.role, _messages.c.content, _messages.c.standalone_question)
        .where(_messages.c.conversation_id == conversation_id, _messages.c.id >= memory_from)
        .order_by(_messages.c.id.desc())
        .limit(MAX_TURNS_READ)
    )


# The upsert and the latest turns in one statement, one round trip: a row per turn, newest first, or one row
# without a turn (its id NULL) for a new conversation.
_opened = _UPSERT.columns(
    _conversations.c.id, _conversations.c.summary, _conversations.c.summary_through, _conversations.c.memory_from
).cte("opened")
_turn = _latest_turns(_opened.c.id, _opened.c.memory_from).lateral("turn")
_OPEN_AND_READ_TURNS = (
    select(
        _opened.c.id.label("conversation_id"),
        _opened.c.summary,
        _opened.c.summary_through,
        *_turn.c,
    )
    .select_from(_opened.outerjoin(_turn, true()))
    .order_by(_turn.c.id.desc())
)
# Both rows in one INSERT; the ids come back in the order of the rows (the question's is the smaller).
_INSERT_MESSAGES = insert(_messages).returning(_messages.c.id, sort_by_parameter_order=True)


_MESSAGE_COLUMNS = tuple(c.name for c in _messages.columns if c.name not in ("id", "created_at"))


def _message_row(**values: object) -> dict[str, object]:
    """A row for ``_INSERT_MESSAGES``: rows inserted together must name the same columns, so the ones not
    given are NULL (as they would be left out)."""
    return dict.fromkeys(_MESSAGE_COLUMNS) | values


def link_answer_sql(*, answer_id: str, posted_as: str) -> str:
    """An ``UPDATE`` for another layer's statement (a data-modifying ``WITH``): tie the stored answer ``answer_id``
    to the platform's id for the post it became, ``posted_as``, so reactions on that post count as feedback.
    Nothing changes when ``posted_as`` is NULL or there is no such message.

    The two are SQL expressions of the enclosing statement, written in code (bind parameters such as
    ``$3::bigint``), never values: they are pasted in as they are. The queue composes this with its delivered mark
    so that both are one statement.
    """
    return (
        f"UPDATE messages SET platform_message_id = {posted_as}"  # noqa: S608
        f" WHERE id = {answer_id} AND {posted_as} IS NOT NULL"
    )


def _as_turn(row: Row[Any]) -> Turn:
    """A turn from a row of ``_latest_turns``' columns."""
    return Turn(id=row.id, role=row.role, content=row.content, question=row.standalone_question)


def _window(
    conversation_id: int, summary: str, summary_through: int, newest_first: list[Turn], budget_tokens: int
) -> Memory:
    """The newest turns within the token budget, verbatim; older ones the summary does not cover yet."""
    kept: list[Turn] = []
    spent = 0
    for turn in newest_first:
        spent += estimate_tokens(turn.content)
        if spent > budget_tokens:
            break
        kept.append(turn)
    older = newest_first[len(kept) :]
    overflow = [t for t in reversed(older) if t.id > summary_through]
    return Memory(conversation_id=conversation_id, summary=summary, turns=list(reversed(kept)), overflow=overflow)


class ConversationStore:
    """Conversations and their memory. ``open``, ``open_and_load`` and ``record`` are one statement each that
    commits on its own (``core.db.statement_scope``: every answer runs them, and no transaction is needed around a
    single statement); the other methods work in the caller's unit of work (``core.db.session_scope``)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def open(self, key: ConversationKey) -> int:
        """The conversation's id, created on first use (concurrent first uses agree on one row)."""
        async with statement_scope(self.sessionmaker) as session:
            return int((await session.execute(_UPSERT, key.model_dump())).one().id)

    async def open_and_load(self, key: ConversationKey, *, budget_tokens: int) -> Memory:
        """``open`` and reading its memory (within ``budget_tokens``) in one statement: every answer starts so."""
        async with statement_scope(self.sessionmaker) as session:
            rows = (await session.execute(_OPEN_AND_READ_TURNS, key.model_dump())).all()
        first = rows[0]
        newest_first = [_as_turn(r) for r in rows if r.id is not None]
        return _window(first.conversation_id, first.summary, first.summary_through, newest_first, budget_tokens)

    async def record(self, conversation_id: int, record: AnswerRecord) -> tuple[int, int]:
        """Store the question and the answer in one statement; returns their message ids."""
        question = _message_row(
            conversation_id=conversation_id,
            role="user",
            content=record.question,
            user_id=record.user_id,
            platform_message_id=record.platform_message_id,
            standalone_question=record.standalone_question,
            trace_id=record.trace_id,
        )
        answer = _message_row(
            conversation_id=conversation_id,
            role="assistant",
            content=record.answer,
            model=record.model,
            latency_ms=record.latency_ms,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            retrieved_chunk_ids=list(record.chunk_ids),
            retrieved_scores=list(record.scores),
            cited_sources=list(record.cited_sources) or None,
            outcome=record.outcome,
            trace_id=record.trace_id,
        )
        # The conversation's updated_at was already set when it was opened for this answer. One statement: both
        # rows or neither.
        async with statement_scope(self.sessionmaker) as session:
            question_id, answer_id = (await session.scalars(_INSERT_MESSAGES, [question, answer])).all()
        return question_id, answer_id

    async def set_summary(self, session: AsyncSession, conversation_id: int, *, summary: str, through: int) -> None:
        """Keep ``summary`` as the summary of the turns up to message ``through`` (unless a newer one is kept), in
        the caller's unit of work."""
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.summary_through < through)
            .values(summary=summary, summary_through=through)
        )

    async def forget_channel(self, session: AsyncSession, *, tenant: str, platform: str, channel: str) -> int:
        """Forget every conversation of a channel (the channel's own and its threads'), in the caller's unit of
        work; returns how many."""
        return await _forget(
            session, Conversation.tenant == tenant, Conversation.platform == platform, Conversation.channel == channel
        )

    async def forget(self, session: AsyncSession, key: ConversationKey) -> bool:
        """Start the conversation's memory afresh, in the caller's unit of work; the messages stay for feedback and
        reports. False if unknown."""
        forgotten = await _forget(
            session,
            Conversation.tenant == key.tenant,
            Conversation.platform == key.platform,
            Conversation.channel == key.channel,
            Conversation.thread == key.thread,
        )
        return forgotten > 0


async def _forget(session: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    """Move the memory start of the matching conversations past their last message; returns how many."""
    last = select(func.coalesce(func.max(Message.id), 0) + 1).where(Message.conversation_id == Conversation.id)
    result = await session.execute(
        update(Conversation)
        .where(*conditions)
        .values(memory_from=last.scalar_subquery(), summary="", summary_through=0, updated_at=func.now())
        .returning(Conversation.id)
    )
    return len(result.all())
