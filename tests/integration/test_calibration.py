"""Calibrating one collection's threshold from a team's labelled questions: chosen from the agent's evidence on a
real PostgreSQL, stored on the collection, and used for answers drawn from it while other collections keep the
configured one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.schemas import AnswerRequest, ConversationKey
from agent.service import AgentService
from core.settings import AgentSettings, LLMSettings
from evals.answers.asking import AgentUnderTest
from evals.answers.calibration import calibrate_collection, load_labelled_questions
from knowledge.errors import KnowledgeError
from knowledge.service import KnowledgeBase

RUNBOOK = """# Runbook

## Restarting the ingest worker

Run `systemctl restart threadwise-worker` on the worker host; queued questions are kept.

## Backups

The database is backed up every night at two; backups are kept for thirty days.

## Paging

The on-call engineer is paged through the incident channel when the queue is older than five minutes.
"""

QUESTIONS = [
    {"question": "How do I restart the ingest worker?", "answerable": True},
    {"question": "How long are database backups kept?", "answerable": True},
    {"question": "When is the on-call engineer paged?", "answerable": True},
    {"question": "What is the best sourdough recipe?", "answerable": False},
    {"question": "Who won the football world cup in 1998?", "answerable": False},
    {"question": "What is the capital of Australia?", "answerable": False},
]


@pytest.fixture
async def runbook(kb: KnowledgeBase, tenant: str, tmp_path: Path) -> str:
    for name in ("runbook", "copy"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "runbook.md").write_text(RUNBOOK)
        await kb.ingest([str(tmp_path / name)], tenant=tenant, collection=name)
    return tenant


def write_questions(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


async def test_the_chosen_threshold_separates_the_questions_and_is_stored(
    kb: KnowledgeBase, runbook: str, tmp_path: Path
) -> None:
    questions = load_labelled_questions(write_questions(tmp_path / "q.jsonl", QUESTIONS))
    settings = AgentSettings(min_similarity=-1.0)  # answers everything: the calibration must do better
    report = await calibrate_collection(
        kb, questions, tenant=runbook, collection="runbook", under_test=AgentUnderTest(LLMSettings(), settings)
    )
    assert report.mode == "extractive" and report.saved
    assert report.chosen.balanced_accuracy == 1.0 and report.current.balanced_accuracy == 0.5
    assert await kb.thresholds(tenant=runbook, mode="extractive") == {"runbook": report.threshold}
    assert await kb.thresholds(tenant=runbook, mode="llm") == {}


async def test_answers_from_a_calibrated_collection_use_its_threshold(kb: KnowledgeBase, runbook: str) -> None:
    await kb.set_threshold(tenant=runbook, collection="runbook", mode="extractive", value=0.99)
    agent = AgentService(
        knowledge=kb, sessionmaker=kb.sessionmaker, llm=LLMSettings(), settings=AgentSettings(min_similarity=0.2)
    )
    try:
        key = ConversationKey(tenant=runbook, platform="test", channel="c")
        question = "How long are database backups kept?"
        strict = await agent.answer(AnswerRequest(question=question, conversation=key, collections=["runbook"]))
        assert strict.outcome == "abstained"  # its evidence is below the collection's 0.99
        lenient = await agent.answer(AnswerRequest(question=question, conversation=key, collections=["copy"]))
        assert lenient.outcome == "answered" and "thirty days" in lenient.text
    finally:
        await agent.aclose()


def test_a_file_without_both_kinds_of_question_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write_questions(tmp_path / "q.jsonl", QUESTIONS[:3])
    with pytest.raises(KnowledgeError, match="3 answerable and 0 unanswerable"):
        load_labelled_questions(path)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "x", "answerable": "yes"}\n')
    with pytest.raises(KnowledgeError, match="line 1"):
        load_labelled_questions(broken)
