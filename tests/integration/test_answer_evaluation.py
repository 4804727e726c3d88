"""The answers evaluation end to end on tiny SQuAD- and MTRAG-format files: real PostgreSQL, the local
embedder and a real ``AgentService``; the throwaway collection and conversations are gone afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from sqlalchemy import func, select

from agent.llm import ChatModels
from agent.models import Conversation
from core.db import session_scope
from core.settings import AgentSettings, LLMSettings
from evals.answers.asking import EVAL_PLATFORM, AgentUnderTest
from evals.answers.mtrag import ask_mtrag, summarize_mtrag
from evals.answers.squad import evaluate_squad_answers
from evals.load.answer_sets import load_mtrag, load_squad_answers
from evals.load.collections import EVAL_TENANT
from knowledge.models import Collection
from knowledge.service import KnowledgeBase

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "Super_Bowl_50",
            "paragraphs": [
                {
                    "context": "Super Bowl 50 was an American football game to determine the champion of the National "
                    "Football League (NFL) for the 2015 season. The American Football Conference (AFC) champion "
                    "Denver Broncos defeated the National Football Conference (NFC) champion Carolina Panthers "
                    "24–10 to earn their third Super Bowl title. The game was played on February 7, 2016, at "
                    "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Which NFL team won Super Bowl 50?",
                            "answers": [{"answer_start": 0, "text": "Denver Broncos"}],
                        },
                        {
                            "id": "q2",
                            "question": "Where was Super Bowl 50 played?",
                            "answers": [
                                {"answer_start": 0, "text": "Levi's Stadium"},
                                {"answer_start": 0, "text": "Santa Clara, California"},
                            ],
                        },
                    ],
                }
            ],
        },
        {
            "title": "Oxygen",
            "paragraphs": [
                {
                    "context": "Oxygen is a chemical element with symbol O and atomic number 8. It is a member of "
                    "the chalcogen group on the periodic table, a highly reactive nonmetal, and an oxidizing "
                    "agent that readily forms oxides with most elements.",
                    "qas": [
                        {
                            "id": "q3",
                            "question": "What is the atomic number of oxygen?",
                            "answers": [{"answer_start": 0, "text": "8"}],
                        }
                    ],
                }
            ],
        },
    ],
}

EIFFEL = {
    "document_id": "eiffel-1",
    "title": "Eiffel Tower",
    "text": "\nThe Eiffel Tower is a wrought-iron lattice tower in Paris. It was completed in 1889 as the entrance "
    "arch to the World's Fair and is 330 metres tall.",
}
EVEREST = {
    "document_id": "everest-1",
    "title": "Mount Everest",
    "text": "Mount Everest is Earth's highest mountain above sea level, at 8,849 metres, in the Himalayas.",
}
MTRAG = [
    {
        "conversation_id": "conv-a",
        "task_id": "conv-a<::>3",
        "input": [
            {"speaker": "user", "text": "Tell me about the Eiffel Tower."},
            {"speaker": "agent", "text": "It is a wrought-iron lattice tower in Paris."},
            {"speaker": "user", "text": "When was it completed?"},
        ],
        "contexts": [EIFFEL],
        "targets": [{"speaker": "agent", "text": "It was completed in 1889."}],
        "answerability": ["ANSWERABLE"],
        "Collection": "clapnq",
    },
    {
        "conversation_id": "conv-b",
        "task_id": "conv-b<::>1",
        "input": [{"speaker": "user", "text": "How tall is Mount Everest?"}],
        "contexts": [EVEREST, EIFFEL],
        "targets": [{"speaker": "agent", "text": "8,849 metres."}],
        "answerability": ["ANSWERABLE"],
        "Collection": "clapnq",
    },
    {
        "conversation_id": "conv-c",
        "task_id": "conv-c<::>1",
        "input": [{"speaker": "user", "text": "Which pizza topping do Neapolitans like best?"}],
        "contexts": [],
        "targets": [{"speaker": "agent", "text": "The documents do not say."}],
        "answerability": ["UNANSWERABLE"],
        "Collection": "clapnq",
    },
]


async def leftovers(kb: KnowledgeBase, prefix: str) -> tuple[int, int]:
    """Eval collections named after the data set, and eval conversations, still in the database."""
    async with session_scope(kb.sessionmaker) as session:
        collections = await session.scalar(
            select(func.count())
            .select_from(Collection)
            .where(Collection.tenant == EVAL_TENANT, Collection.name.startswith(prefix))
        )
        conversations = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.tenant == EVAL_TENANT, Conversation.platform == EVAL_PLATFORM)
        )
    return int(collections or 0), int(conversations or 0)


@pytest.fixture
def squad_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(SQUAD))
    return path


@pytest.fixture
def mtrag_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-mtrag.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in MTRAG) + "\n")
    return path


async def test_squad_answers_extractive_and_with_a_model(kb: KnowledgeBase, squad_file: Path) -> None:
    dataset = load_squad_answers(squad_file)
    assert [q.answers for q in dataset.questions] == [
        ("Denver Broncos",),
        ("Levi's Stadium", "Santa Clara, California"),
        ("8",),
    ]
    report = await evaluate_squad_answers(
        kb, dataset, under_test=AgentUnderTest(LLMSettings(), AgentSettings()), min_similarity=0.2, limit=None
    )
    assert report.agent.extractive and report.agent.min_similarity == 0.2
    assert (report.documents, report.questions) == (2, 3)
    assert sum(report.outcomes.values()) == 3 and report.outcomes["error"] == 0
    assert set(report.retrieval) == {"recall@1", "recall@5"}
    assert report.retrieval["recall@5"] == 1.0  # two paragraphs: both are always retrieved
    assert report.retrieval["recall@1"] >= 2 / 3
    assert 0 <= report.contains_answer_rate_all <= report.contains_answer_rate <= 1
    assert report.exact_match is None and report.f1 is None  # no LLM: no EM/F1
    assert set(report.latency_ms) == {"p50", "p95", "p99"}
    assert await leftovers(kb, "squad:tiny-squad.json") == (0, 0)

    # A scripted model: EM/F1 are scored on the reply with its citation markers stripped.
    scripted = FakeListChatModel(responses=["Denver Broncos [1]", "It was played at Levi's Stadium [1].", "8 [1]"])
    with_model = await evaluate_squad_answers(
        kb,
        dataset,
        under_test=AgentUnderTest(
            LLMSettings(), AgentSettings(), ChatModels(primary_name="scripted:test", primary=scripted)
        ),
        min_similarity=-1,
    )
    assert not with_model.agent.extractive and with_model.outcomes["answered"] == 3
    assert with_model.exact_match == pytest.approx(round(2 / 3, 4))
    assert with_model.f1 is not None and with_model.exact_match is not None
    assert with_model.f1 > with_model.exact_match
    assert with_model.contains_answer_rate == 1.0
    assert await leftovers(kb, "squad:tiny-squad.json") == (0, 0)


async def test_mtrag_answers_per_answerability_class(kb: KnowledgeBase, mtrag_file: Path) -> None:
    dataset = load_mtrag(mtrag_file)
    assert len(dataset.documents) == 2  # eiffel-1 appears twice and is loaded once
    corpus, agent, items = await ask_mtrag(
        kb, dataset, under_test=AgentUnderTest(LLMSettings(), AgentSettings(min_similarity=0.3))
    )
    # The earlier turns were in the conversation: the follow-up was condensed with the first question.
    assert items[0].asked.standalone_question == "Tell me about the Eiffel Tower. When was it completed?"
    assert items[1].asked.standalone_question == "How tall is Mount Everest?"
    report = summarize_mtrag(corpus, agent, items)
    assert report.tasks == 3 and report.documents == 2
    assert {name: figures.count for name, figures in report.classes.items()} == {"ANSWERABLE": 2, "UNANSWERABLE": 1}
    for figures in report.classes.values():
        assert figures.answered + figures.abstained + figures.error == figures.count
        assert figures.error == 0
    assert report.answerable_answer_rate == report.classes["ANSWERABLE"].answered_rate
    assert report.unanswerable_abstention_rate == report.classes["UNANSWERABLE"].abstained_rate
    assert set(report.targets_met) == {"answerable_answer_rate", "unanswerable_abstention_rate"}
    assert report.context_recall == 1.0  # two passages, five retrieved: the reference is always among them
    assert report.f1_answered_answerable is None
    assert await leftovers(kb, "mtrag:tiny-mtrag.jsonl") == (0, 0)
