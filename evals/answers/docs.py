"""The docs-qa evaluation: ingest a documentation folder into a throwaway collection, ask every question through a
real ``AgentService`` and score the replies with the data set's rules (``evals.answers.docs_qa``).

A follow-up's turns are asked in one conversation and only the last is scored. The collection and the run's
conversations are deleted afterwards, whatever happens.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from evals.answers.asking import AgentInfo, AgentUnderTest, Asked, eval_agent
from evals.answers.docs_qa import KINDS, DocsQuestion, is_correct, source_hit
from evals.load.collections import EVAL_TENANT
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import latency_percentiles, rate
from knowledge.errors import KnowledgeError
from knowledge.published import PublishedSite
from knowledge.service import KnowledgeBase

TARGETS = {"answerable": 0.8, "source_hit": 0.9, "unanswerable": 0.8, "followup": 0.75}
"""Issue 21's aims in the default mode: correct answers, cited expected source, refusals, follow-ups."""
TARGET_P95_MS = 150.0


@dataclass
class DocsCorpus:
    collection: str
    documents: int
    chunks: int
    skipped: int
    """Files the loaders refused or failed on."""
    load_seconds: float


@asynccontextmanager
async def docs_corpus(
    knowledge: KnowledgeBase, folder: Path, *, progress: Progress = no_progress, site: PublishedSite | None = None
) -> AsyncIterator[DocsCorpus]:
    """``folder`` (resolved) ingested as a user would ingest it, into a new ``eval`` collection deleted on exit."""
    name = f"docs:{folder.name}:{uuid.uuid4().hex[:8]}"
    total = 0
    done = 0

    def advance(uri: str, known: int | None) -> None:
        nonlocal total, done
        if known is not None:
            total = known
        else:
            done += 1
        progress("ingesting the corpus", done, total)

    started = time.perf_counter()
    try:
        report = await knowledge.ingest([str(folder)], tenant=EVAL_TENANT, collection=name, progress=advance, site=site)
        yield DocsCorpus(
            collection=name,
            documents=len(report.added),
            chunks=report.chunks_written,
            skipped=len(report.skipped) + len(report.failed),
            load_seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        # Ingesting may have failed before or after creating the collection.
        if any(c.name == name for c in await knowledge.collections(tenant=EVAL_TENANT)):
            await knowledge.delete_collection(tenant=EVAL_TENANT, name=name)


@dataclass
class DocsItem:
    id: str
    kind: str
    outcome: str
    """The scored turn's outcome: answered, abstained or error."""
    correct: bool
    source_hit: bool
    """Answered and citing an expected source (always False for unanswerable questions)."""
    latency_ms: list[float]
    """Every turn's, in order."""
    answer: str = ""
    """The scored turn's reply text, as the person would read it."""
    cited: list[str] = field(default_factory=list)
    """The scored turn's cited sources, relative to the corpus folder."""
    evidence: float | None = None
    """What the abstention threshold was compared with on the scored turn."""


@dataclass
class KindFigures:
    count: int
    correct: int
    correct_rate: float
    source_hits: int
    source_hit_rate: float
    outcomes: dict[str, int]


@dataclass
class DocsReport:
    dataset: str
    documents: int
    chunks: int
    skipped: int
    load_seconds: float
    agent: AgentInfo
    kinds: dict[str, KindFigures]
    latency_ms: dict[str, float]
    """Over every turn asked (a follow-up's first turn too)."""
    targets_met: dict[str, bool]
    items: list[DocsItem] = field(default_factory=list)


def relative_to_corpus(uri: str, folder_name: str) -> str:
    """Ingesting a folder records paths from its parent (``corpus/api.md``); the questions' are from inside it."""
    prefix = f"{folder_name}/"
    return uri[len(prefix) :] if uri.startswith(prefix) else uri


def score(question: DocsQuestion, asked: Asked, *, folder_name: str, latency_ms: list[float]) -> DocsItem:
    cited = [relative_to_corpus(uri, folder_name) for uri in asked.cited]
    return DocsItem(
        id=question.id,
        kind=question.kind,
        outcome=asked.outcome,
        correct=is_correct(question, asked.outcome, asked.text),
        source_hit=asked.outcome == "answered" and bool(question.sources) and source_hit(cited, question.sources),
        latency_ms=latency_ms,
        answer=asked.text,
        cited=cited,
        evidence=asked.evidence,
    )


def _kind_figures(items: Sequence[DocsItem]) -> KindFigures:
    correct = sum(i.correct for i in items)
    hits = sum(i.source_hit for i in items)
    return KindFigures(
        count=len(items),
        correct=correct,
        correct_rate=rate(correct, len(items)),
        source_hits=hits,
        source_hit_rate=rate(hits, len(items)),
        outcomes={o: sum(i.outcome == o for i in items) for o in ("answered", "abstained", "error")},
    )


def summarize_docs(dataset: str, corpus: DocsCorpus, agent: AgentInfo, items: Sequence[DocsItem]) -> DocsReport:
    kinds: dict[str, KindFigures] = {k: _kind_figures([i for i in items if i.kind == k]) for k in KINDS}
    latencies = [ms for i in items for ms in i.latency_ms]
    latency = latency_percentiles(latencies)
    return DocsReport(
        dataset=dataset,
        documents=corpus.documents,
        chunks=corpus.chunks,
        skipped=corpus.skipped,
        load_seconds=corpus.load_seconds,
        agent=agent,
        kinds=kinds,
        latency_ms=latency,
        targets_met={
            "answerable": kinds["answerable"].correct_rate >= TARGETS["answerable"],
            "source_hit": kinds["answerable"].source_hit_rate >= TARGETS["source_hit"],
            "unanswerable": kinds["unanswerable"].correct_rate >= TARGETS["unanswerable"],
            "followup": kinds["followup"].correct_rate >= TARGETS["followup"],
            "p95": latency["p95"] <= TARGET_P95_MS,
        },
        items=list(items),
    )


async def evaluate_docs(
    knowledge: KnowledgeBase,
    questions: Sequence[DocsQuestion],
    *,
    corpus: Path,
    under_test: AgentUnderTest,
    progress: Progress = no_progress,
    site: PublishedSite | None = None,
) -> DocsReport:
    """``site``: where the corpus is published, so sources and the answers' links are its pages' URLs."""
    folder = await asyncio.to_thread(corpus.resolve)
    if not await asyncio.to_thread(folder.is_dir):
        raise KnowledgeError(f"{corpus} is not a folder; pass the documentation folder to ingest")
    items: list[DocsItem] = []
    async with (
        docs_corpus(knowledge, folder, progress=progress, site=site) as loaded,
        eval_agent(knowledge, collection=loaded.collection, under_test=under_test) as agent,
    ):
        for done, question in enumerate(questions, start=1):
            latencies: list[float] = []
            for turn in question.turns:  # one thread per question: turn 2 sees turn 1
                asked = await agent.ask(turn, thread=question.id)
                latencies.append(round(asked.latency_ms, 1))
            items.append(score(question, asked, folder_name=folder.name, latency_ms=latencies))
            progress("asking the questions", done, len(questions))
    return summarize_docs(f"docs:{folder.parent.name}/{folder.name}", loaded, agent.info, items)
