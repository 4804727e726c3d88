"""Conversations and votes seeded in a tenant of their own, for the dashboard's and the knowledge-gap report's
figures (and the security headers of the page that shows them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.feedback import FeedbackStore
from agent.memory import AnswerRecord, ConversationStore
from agent.schemas import ConversationKey
from core.db import create_sessionmaker, session_scope


@dataclass(frozen=True)
class Asked:
    channel: str
    question: str
    outcome: str
    latency_ms: int
    cited: tuple[str, ...] = ()


SEEDED = [
    Asked("C1", "How do I deploy the service?", "answered", 100, ("docs/deploy.md",)),
    Asked("C1", "Where is the office?", "answered", 200, ("docs/office.md", "docs/deploy.md")),
    Asked("C1", "How do I reset my VPN password?", "abstained", 300),
    Asked("C2", "How can I reset the password for the VPN?", "abstained", 400),
    Asked("C2", "Why did the nightly export crash?", "error", 500),
]


@pytest.fixture
async def seeded(engine: AsyncEngine) -> str:
    """Five answered, abstained or failed questions in a tenant of their own: 👍👍 on the first, 👎 with a
    comment on the second."""
    tenant = f"dash-{uuid.uuid4().hex[:8]}"
    sessionmaker = create_sessionmaker(engine)
    store, feedback = ConversationStore(sessionmaker), FeedbackStore(sessionmaker)
    answer_ids = []
    for index, asked in enumerate(SEEDED):
        key = ConversationKey(tenant=tenant, platform="slack", channel=asked.channel, thread=f"t{index}")
        conversation_id = await store.open(key)
        _, answer_id = await store.record(
            conversation_id,
            AnswerRecord(
                question=asked.question,
                standalone_question=asked.question,
                answer=f"answer {index}",
                outcome=asked.outcome,
                latency_ms=asked.latency_ms,
                cited_sources=asked.cited,
            ),
        )
        answer_ids.append(answer_id)
    async with session_scope(sessionmaker) as session:
        await feedback.vote(session, message_id=answer_ids[0], user_id="U1", score=1, reaction="+1")
        await feedback.vote(session, message_id=answer_ids[0], user_id="U2", score=1, reaction="+1")
        await feedback.vote(
            session,
            message_id=answer_ids[1],
            user_id="U3",
            score=-1,
            reaction="-1",
            comment="The office moved last year.",
        )
    return tenant
