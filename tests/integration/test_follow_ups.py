"""Without a model, a message that continues the conversation borrows its subject, and one that names its own
subject stands alone, however short."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.schemas import AnswerRequest, ConversationKey
from agent.service import AgentService
from core.settings import AgentSettings, LLMSettings
from knowledge.service import KnowledgeBase

RUNBOOK = """# Runbook

## Deploying with docker compose

Copy `.env.example` to `.env`, then run `docker compose up -d`. Scale the workers with
`docker compose up -d --scale worker=3`; each worker answers four questions at once.

## Backups

The database is backed up every night at two; backups are kept for thirty days.
"""


@pytest.fixture
async def runbook(kb: KnowledgeBase, tenant: str, tmp_path: Path) -> str:
    (tmp_path / "runbook.md").write_text(RUNBOOK)
    await kb.ingest([str(tmp_path / "runbook.md")], tenant=tenant, collection="runbook")
    return tenant


async def test_a_short_message_is_answered_as_a_follow_up_or_on_its_own(kb: KnowledgeBase, runbook: str) -> None:
    agent = AgentService(
        knowledge=kb, sessionmaker=kb.sessionmaker, llm=LLMSettings(), settings=AgentSettings(min_similarity=0.3)
    )
    try:
        key = ConversationKey(tenant=runbook, platform="test", channel="c", thread="t1")
        first = await agent.answer(AnswerRequest(question="How do I deploy with docker compose?", conversation=key))
        assert first.outcome == "answered"
        leaning = await agent.answer(AnswerRequest(question="and how many workers can I run?", conversation=key))
        assert leaning.standalone_question == "How do I deploy with docker compose? and how many workers can I run?"
        assert "--scale worker=3" in leaning.text
        alone = await agent.answer(AnswerRequest(question="How long are backups kept?", conversation=key))
        assert alone.standalone_question == "How long are backups kept?"
        assert "thirty days" in alone.text
    finally:
        await agent.aclose()
