"""The knowledge-gap report: questions the bot abstained on or that were voted 👎, grouped by meaning.

Questions are embedded with the knowledge base's embedder and grouped greedily: each joins the first group
whose first question is at least ``similarity`` alike (cosine), else starts a new one. Groups come biggest
first, so the top of the list is what the documents most need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.reports import over_answers
from agent.text_vectors import TextVectors
from core.db import session_scope

DEFAULT_SIMILARITY = 0.7
"""Stricter than ``agent.verified.PREFER_SIMILARITY`` (0.6): a group should hold one question asked in other
words, not a topic. Its docstring has measured MiniLM scores (paraphrases 0.58–0.95, other questions ≤ 0.57)."""
MAX_QUESTIONS = 5000
EXAMPLES_SHOWN = 5
"""Questions listed under each group, on the dashboard and by ``threadwise report gaps``."""

_GAP_QUESTIONS = over_answers(
    """
    SELECT id AS answer_id, created_at, outcome, tenant, platform, channel, thread, down AS down_votes, comments,
           question, standalone
    FROM answers
    WHERE outcome = 'abstained' OR down > 0
    ORDER BY created_at DESC
    LIMIT :limit
    """,
    with_question=True,
)


@dataclass(frozen=True, slots=True)
class GapQuestion:
    answer_id: int
    asked_at: datetime
    question: str
    standalone_question: str
    outcome: str
    down_votes: int
    comments: tuple[str, ...]
    tenant: str
    platform: str
    channel: str
    thread: str


@dataclass
class GapGroup:
    questions: list[GapQuestion] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The group's first (most recent) question, as asked on its own."""
        return self.questions[0].standalone_question

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def abstained(self) -> int:
        return sum(q.outcome == "abstained" for q in self.questions)

    @property
    def down_votes(self) -> int:
        return sum(q.down_votes for q in self.questions)


async def gap_questions(
    sessionmaker: async_sessionmaker[AsyncSession], *, since: datetime, tenant: str | None = None
) -> list[GapQuestion]:
    async with session_scope(sessionmaker) as session:
        rows = (await session.execute(_GAP_QUESTIONS, {"since": since, "tenant": tenant, "limit": MAX_QUESTIONS})).all()
    return [
        GapQuestion(
            answer_id=r.answer_id,
            asked_at=r.created_at,
            question=r.question,
            standalone_question=r.standalone,
            outcome=r.outcome or "",
            down_votes=r.down_votes,
            comments=tuple(r.comments or ()),
            tenant=r.tenant,
            platform=r.platform,
            channel=r.channel,
            thread=r.thread,
        )
        for r in rows
    ]


def group_by_meaning(
    questions: list[GapQuestion], vectors: np.ndarray, *, similarity: float = DEFAULT_SIMILARITY
) -> list[GapGroup]:
    """Greedy leader clustering over unit vectors (one row per question), biggest group first."""
    groups: list[GapGroup] = []
    leaders: list[np.ndarray] = []
    for question, vector in zip(questions, vectors, strict=True):
        if leaders:
            scores = np.stack(leaders) @ vector
            best = int(np.argmax(scores))
            if scores[best] >= similarity:
                groups[best].questions.append(question)
                continue
        leaders.append(vector)
        groups.append(GapGroup([question]))
    return sorted(groups, key=lambda g: (-g.count, -g.down_votes))


async def knowledge_gaps(
    sessionmaker: async_sessionmaker[AsyncSession],
    vectors: TextVectors,
    *,
    since: datetime,
    tenant: str | None = None,
    similarity: float = DEFAULT_SIMILARITY,
) -> list[GapGroup]:
    questions = await gap_questions(sessionmaker, since=since, tenant=tenant)
    if not questions:
        return []
    embedded = await vectors.of([q.standalone_question for q in questions])
    return group_by_meaning(questions, embedded, similarity=similarity)
