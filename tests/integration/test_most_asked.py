"""The questions offered as suggested prompts in Slack's assistant container: a channel's most asked, answered and
not voted down, on a real PostgreSQL."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from agent.memory import AnswerRecord, ConversationStore
from agent.most_asked import most_asked
from agent.schemas import ConversationKey
from core.db import create_sessionmaker
from tests.integration.helpers.dashboard import seeded

__all__ = ["seeded"]  # fixture used below


async def test_only_answered_questions_without_a_down_vote_from_that_channel(engine: AsyncEngine, seeded: str) -> None:
    sessionmaker = create_sessionmaker(engine)
    # C1 holds one answered with 👍👍, one answered with a 👎 and one abstained; C2 none answered.
    assert await most_asked(sessionmaker, tenant=seeded, platform="slack", channel="C1", limit=4) == [
        "How do I deploy the service?"
    ]
    assert await most_asked(sessionmaker, tenant=seeded, platform="slack", channel="C2", limit=4) == []
    assert await most_asked(sessionmaker, tenant=seeded, platform="discord", channel="C1", limit=4) == []


async def test_the_same_question_counts_once_however_it_is_spaced_or_cased(engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(engine)
    store = ConversationStore(sessionmaker)
    tenant = f"asked-{uuid.uuid4().hex[:8]}"
    asked = ["Where are the logs?", "where are  the LOGS?", "How do I deploy?", "Where are the logs?"]
    for index, question in enumerate(asked):
        key = ConversationKey(tenant=tenant, platform="slack", channel="C1", thread=f"t{index}")
        record = AnswerRecord(
            question=question, standalone_question=question, answer="a", outcome="answered", latency_ms=1
        )
        await store.record(await store.open(key), record)
    found = await most_asked(sessionmaker, tenant=tenant, platform="slack", channel="C1", limit=4)
    assert [q.casefold() for q in found] == ["where are the logs?", "how do i deploy?"]
    assert await most_asked(sessionmaker, tenant=tenant, platform="slack", channel="C1", limit=1) == [found[0]]
