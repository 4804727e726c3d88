"""The coverage check on a real PostgreSQL: words no document uses are found from the BM25 vocabulary, and a
question naming something absent is refused with the name, while its close neighbours are still answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.schemas import AnswerRequest, ConversationKey
from agent.service import AgentService
from core.settings import AgentSettings, LLMSettings
from knowledge.service import KnowledgeBase

GUIDE = """# Operations guide

## Rotate the signing key

Open the admin console, choose Security, and press Rotate. Old tokens stop working after one hour. Scripts call
`threadwise.TokenRotation(grace=3600)` instead. Quickly rotating twice is harmless.

## Timeouts

Every request times out after ten seconds unless the timeout setting or the environment says otherwise.
"""


@pytest.fixture
async def guide(kb: KnowledgeBase, tenant: str, tmp_path: Path) -> str:
    (tmp_path / "ops.md").write_text(GUIDE)
    await kb.ingest([str(tmp_path / "ops.md")], tenant=tenant, collection="ops")
    return tenant


async def test_words_no_document_uses_are_reported_and_typing_slips_forgiven(kb: KnowledgeBase, guide: str) -> None:
    words = ["rotate", "timout", "TokenRotation", "QUIC", "quic", "Kerberos", "signing", "sourdough", "Rotating"]
    words += ["env", "Env", "ti"]
    # "timout" is a slip of "timeout"; TokenRotation is part of a dotted name; neither "QUIC" nor a word as short as
    # "quic" is taken for a slip of "quick", nor for short for it; "env" is short for "environment", but a
    # capitalised "Env" reads as a name, and "ti" is too short to stand for "timeout".
    expected = ["QUIC", "quic", "Kerberos", "sourdough", "Env", "ti"]
    assert await kb.unknown_words(words, tenant=guide) == expected
    assert await kb.unknown_words(words, tenant=guide, collections=["ops"]) == expected
    assert await kb.unknown_words(["anything"], tenant="nobody-here") == []  # nothing searched, nothing judged


async def test_a_question_naming_something_absent_is_refused_with_the_name(kb: KnowledgeBase, guide: str) -> None:
    agent = AgentService(
        knowledge=kb,
        sessionmaker=kb.sessionmaker,
        llm=LLMSettings(),
        settings=AgentSettings(sources=3),  # the default threshold
    )
    try:
        key = ConversationKey(tenant=guide, platform="test", channel="c")
        present = await agent.answer(AnswerRequest(question="How do I rotate the signing key?", conversation=key))
        assert present.outcome == "answered"
        absent = await agent.answer(
            AnswerRequest(question="How do I rotate the signing key stored in Kerberos?", conversation=key)
        )
        assert absent.outcome == "abstained"
        assert absent.text.startswith("I found nothing about Kerberos in the knowledge base.")
        assert absent.evidence is not None and present.evidence is not None and absent.evidence < present.evidence
    finally:
        await agent.aclose()
