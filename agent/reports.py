"""What people asked and how it went, over a time window: the figures behind the admin dashboard.

Every figure is one SQL aggregate over ``messages``, ``conversations`` and ``feedback``; a question is a user
message and its outcome is that of the answer stored with it. What comes from knowledge's tables (a cited page's
title, whether an answer was verified) is SQL that ``knowledge.documents_read`` hands over, in the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.models import OUTCOMES
from agent.verified import SOURCE_URI_PREFIX, VERIFIED_COLLECTION
from core.db import session_scope
from knowledge.audience import channel_audience_sql
from knowledge.documents_read import document_exists_sql, document_title_sql

# Answers in the window with their votes (and the 👎 comments); the base of every figure below and of the
# knowledge-gap report. {question} adds each answer's question: the user's message just before it.
_ANSWERS = """
    SELECT a.id, a.conversation_id, a.created_at, a.outcome, a.latency_ms, a.cited_sources,
           c.tenant, c.platform, c.channel, c.thread,
           coalesce(v.up, 0) AS up, coalesce(v.down, 0) AS down, v.comments {question_columns}
    FROM messages a
    JOIN conversations c ON c.id = a.conversation_id
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE f.score > 0) AS up, count(*) FILTER (WHERE f.score < 0) AS down,
               array_remove(array_agg(f.comment ORDER BY f.id), NULL) AS comments
        FROM feedback f WHERE f.message_id = a.id
    ) v ON true
    {question_join}
    WHERE a.role = 'assistant' AND a.outcome IS NOT NULL AND a.created_at >= :since
      AND (CAST(:tenant AS text) IS NULL OR c.tenant = :tenant)
"""
_QUESTION_COLUMNS = ", q.content AS question, coalesce(q.standalone_question, q.content) AS standalone"
_QUESTION_JOIN = """
    CROSS JOIN LATERAL (
        SELECT m.content, m.standalone_question FROM messages m
        WHERE m.conversation_id = a.conversation_id AND m.role = 'user' AND m.id < a.id
        ORDER BY m.id DESC LIMIT 1
    ) q
"""


def over_answers(query: str, *, with_question: bool = False) -> TextClause:
    """``query`` reads the CTE ``answers`` (with ``question`` and ``standalone`` columns when asked: a lookup
    per answer, so only where shown). Both are constants; every value is a bound parameter."""
    answers = _ANSWERS.format(
        question_columns=_QUESTION_COLUMNS if with_question else "",
        question_join=_QUESTION_JOIN if with_question else "",
    )
    return text(f"WITH answers AS ({answers}) {query}")


# The question and outcome totals are sums of _PER_DAY's rows, added up in Python rather than counted twice.
_VOTES_AND_LATENCY = over_answers(
    """
    SELECT coalesce(sum(up), 0) AS up, coalesce(sum(down), 0) AS down,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS latency_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS latency_p95
    FROM answers
    """
)

_PER_DAY = over_answers(
    """
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, outcome, count(*) AS n
    FROM answers
    GROUP BY 1, 2
    """
)

_CHANNELS = over_answers(
    """
    SELECT tenant, platform, channel, count(*) AS questions, sum(down) AS down
    FROM answers
    GROUP BY 1, 2, 3
    ORDER BY questions DESC, platform, channel
    LIMIT :limit
    """
)

# A cited page is counted per tenant, titled with that tenant's document at its address: another tenant's page
# at the same address may be titled with what that tenant keeps to itself (the all-tenants report too).
_SOURCES = over_answers(
    f"""
    SELECT answers.tenant, s.uri, count(*) AS citations,
           {document_title_sql(tenant="answers.tenant", source_uri="s.uri")} AS title
    FROM answers CROSS JOIN LATERAL unnest(answers.cited_sources) AS s(uri)
    GROUP BY answers.tenant, s.uri
    ORDER BY citations DESC, s.uri, answers.tenant
    LIMIT :limit
    """  # noqa: S608 (knowledge's fragment, from code)
)

# The answer was saved as a verified answer: its document is in the tenant's verified collection, or in its
# channel's own (``agent.verified``: an answer given where the history is private stays there).
_VERIFIED_PRIVATELY = f"(:verified_collection || '@' || {channel_audience_sql('answers.platform', 'answers.channel')})"
_VERIFIED = " OR ".join(
    document_exists_sql(tenant="answers.tenant", collection=collection, source_uri=":verified_prefix || answers.id")
    for collection in (":verified_collection", _VERIFIED_PRIVATELY)
)
_RECENT = over_answers(
    f"""
    SELECT answers.id, answers.created_at, answers.outcome, answers.platform, answers.channel, answers.thread,
           answers.up, answers.down, answers.question,
           ({_VERIFIED}) AS verified
    FROM answers
    ORDER BY answers.created_at DESC, answers.id DESC
    LIMIT :limit
    """,  # noqa: S608 (knowledge's fragment, from code)
    with_question=True,
)


_ANSWER_TENANT = text(
    """
    SELECT c.tenant FROM messages a JOIN conversations c ON c.id = a.conversation_id
    WHERE a.id = :answer_id AND a.role = 'assistant'
    """
)


@dataclass(frozen=True, slots=True)
class DayCounts:
    day: date
    answered: int = 0
    abstained: int = 0
    error: int = 0

    @property
    def total(self) -> int:
        return self.answered + self.abstained + self.error


@dataclass(frozen=True, slots=True)
class ChannelCount:
    tenant: str
    platform: str
    channel: str
    questions: int
    down_votes: int


@dataclass(frozen=True, slots=True)
class SourceCount:
    tenant: str
    source_uri: str
    title: str | None
    citations: int


@dataclass(frozen=True, slots=True)
class RecentQuestion:
    answer_id: int
    asked_at: datetime
    question: str
    outcome: str
    platform: str
    channel: str
    thread: str
    up_votes: int
    down_votes: int
    verified: bool = False


@dataclass
class Overview:
    since: datetime
    questions: int = 0
    answered: int = 0
    abstained: int = 0
    error: int = 0
    up_votes: int = 0
    down_votes: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    days: list[DayCounts] = field(default_factory=list)
    channels: list[ChannelCount] = field(default_factory=list)
    sources: list[SourceCount] = field(default_factory=list)
    recent: list[RecentQuestion] = field(default_factory=list)

    def rate(self, outcome: str) -> float:
        return getattr(self, outcome) / self.questions if self.questions else 0.0

    @property
    def up_share(self) -> float | None:
        """👍 among all votes; None without votes."""
        votes = self.up_votes + self.down_votes
        return self.up_votes / votes if votes else None


async def overview(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    since: datetime,
    until: date,
    tenant: str | None = None,
    top: int = 10,
    recent: int = 25,
) -> Overview:
    """The figures since ``since`` (every day up to ``until`` listed, quiet ones as zeros)."""
    params: dict[str, Any] = {"since": since, "tenant": tenant}
    async with session_scope(sessionmaker) as session:
        totals = (await session.execute(_VOTES_AND_LATENCY, params)).one()
        per_day = (await session.execute(_PER_DAY, params)).all()
        channels = (await session.execute(_CHANNELS, params | {"limit": top})).all()
        sources = (await session.execute(_SOURCES, params | {"limit": top})).all()
        latest = (
            await session.execute(
                _RECENT,
                params
                | {"limit": recent, "verified_collection": VERIFIED_COLLECTION, "verified_prefix": SOURCE_URI_PREFIX},
            )
        ).all()
    counts: dict[date, dict[str, int]] = {}
    by_outcome = dict.fromkeys(OUTCOMES, 0)
    for row in per_day:
        if row.outcome in OUTCOMES:
            counts.setdefault(row.day, {})[row.outcome] = row.n
            by_outcome[row.outcome] += row.n
    result = Overview(
        since=since,
        questions=sum(row.n for row in per_day),  # every answer, whatever its outcome (as count(*) was)
        answered=by_outcome["answered"],
        abstained=by_outcome["abstained"],
        error=by_outcome["error"],
        up_votes=int(totals.up),
        down_votes=int(totals.down),
        latency_p50_ms=totals.latency_p50,
        latency_p95_ms=totals.latency_p95,
    )
    day = since.date()
    while day <= until:
        result.days.append(DayCounts(day, **counts.get(day, {})))
        day = date.fromordinal(day.toordinal() + 1)
    result.channels = [ChannelCount(r.tenant, r.platform, r.channel, r.questions, int(r.down)) for r in channels]
    result.sources = [SourceCount(r.tenant, r.uri, r.title, r.citations) for r in sources]
    result.recent = [
        RecentQuestion(
            r.id, r.created_at, r.question, r.outcome, r.platform, r.channel, r.thread, r.up, r.down, r.verified
        )
        for r in latest
    ]
    return result


async def answer_tenant(sessionmaker: async_sessionmaker[AsyncSession], *, answer_id: int) -> str | None:
    """The tenant of the bot's answer ``answer_id``; None when there is no such answer. For the dashboard,
    which shows an answer to a tenant's key only when it is that tenant's."""
    async with session_scope(sessionmaker) as session:
        tenant: str | None = await session.scalar(_ANSWER_TENANT, {"answer_id": answer_id})
    return tenant
