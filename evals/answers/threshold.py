"""Tuning the abstention threshold on MTRAG-UN: chosen on one half of the conversations, reported on the other."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.settings import AgentSettings, LLMSettings
from evals.answers.asking import AgentUnderTest
from evals.answers.metrics import (
    Scored,
    ThresholdRates,
    answered_share,
    choose_threshold,
    rates_at,
)
from evals.answers.mtrag import MtragItem, ask_mtrag
from evals.answers.squad import ask_squad
from evals.load.answer_sets import ANSWERABILITY_CLASSES, MtragSet, SquadAnswerSet
from evals.toolkit.progress import Progress, no_progress
from evals.toolkit.stats import percentile
from knowledge.service import KnowledgeBase

SWEEP = [round(0.05 * i, 2) for i in range(15)]
"""Thresholds shown next to the chosen one (0.00–0.70)."""


Half = Literal["tune", "report"]


def half_of(conversation_id: str) -> Half:
    """A deterministic half-and-half split by conversation, so no conversation is in both halves."""
    return "tune" if hashlib.sha256(conversation_id.encode()).digest()[0] % 2 == 0 else "report"


@dataclass
class SweepRow:
    threshold: float
    tune_balanced_accuracy: float
    report_answer_rate: float
    report_abstention_rate: float
    report_balanced_accuracy: float
    squad_answered_rate: float | None


@dataclass
class ThresholdReport:
    dataset: str
    tasks: int
    split: dict[str, dict[str, int]]
    """Per half: how many ANSWERABLE and UNANSWERABLE tasks it holds."""
    threshold: float
    """The threshold with the best balanced accuracy on the tuning half: the suggested AGENT_MIN_SIMILARITY."""
    tune: ThresholdRates
    report: ThresholdRates
    """The figures to quote: the report half at the chosen threshold."""
    report_other_classes: dict[str, float]
    """Answered share of the report half's PARTIAL and UNDERSPECIFIED tasks at the chosen threshold."""
    current: ThresholdRates
    """The report half at the configured AGENT_MIN_SIMILARITY, for comparison."""
    squad_questions: int = 0
    squad_answered_rate: float | None = None
    """SQuAD questions (all answerable) the bot would answer at the chosen threshold."""
    squad_answered_rate_current: float | None = None
    evidence_median: dict[str, float] = field(default_factory=dict)
    sweep: list[SweepRow] = field(default_factory=list)


def _median(scores: Sequence[float | None]) -> float:
    """Median evidence; a question with nothing retrieved counts as -1."""
    return round(percentile([-1.0 if s is None else s for s in scores], 50), 4)


def _scored(items: Sequence[MtragItem]) -> list[Scored]:
    return [
        Scored(i.asked.evidence, i.task.answerability == "ANSWERABLE")
        for i in items
        if i.task.answerability in ("ANSWERABLE", "UNANSWERABLE")
    ]


def threshold_report(
    dataset: str,
    items: Sequence[MtragItem],
    *,
    current: float,
    squad: Sequence[float | None] | None = None,
) -> ThresholdReport:
    """Choose the threshold on the tuning half; report the other half (and SQuAD) at it."""
    halves = {half: [i for i in items if half_of(i.task.conversation_id) == half] for half in ("tune", "report")}
    tune, report = _scored(halves["tune"]), _scored(halves["report"])
    chosen = choose_threshold(tune)
    threshold = chosen.threshold
    result = ThresholdReport(
        dataset=dataset,
        tasks=len(items),
        split={
            half: {
                "ANSWERABLE": sum(i.task.answerability == "ANSWERABLE" for i in members),
                "UNANSWERABLE": sum(i.task.answerability == "UNANSWERABLE" for i in members),
                "all": len(members),
            }
            for half, members in halves.items()
        },
        threshold=threshold,
        tune=chosen,
        report=rates_at(report, threshold),
        report_other_classes={
            name: answered_share(
                [i.asked.evidence for i in halves["report"] if i.task.answerability == name], threshold
            )
            for name in ("PARTIAL", "UNDERSPECIFIED")
        },
        current=rates_at(report, current),
    )
    for name in ANSWERABILITY_CLASSES:
        found = [i.asked.evidence for i in items if i.task.answerability == name]
        if found:
            result.evidence_median[name] = _median(found)
    if squad is not None:
        result.squad_questions = len(squad)
        result.squad_answered_rate = answered_share(squad, threshold)
        result.squad_answered_rate_current = answered_share(squad, current)
        if squad:
            result.evidence_median["SQuAD"] = _median(squad)
    for value in sorted({*SWEEP, threshold, current}):
        on_report = rates_at(report, value)
        result.sweep.append(
            SweepRow(
                threshold=value,
                tune_balanced_accuracy=rates_at(tune, value).balanced_accuracy,
                report_answer_rate=on_report.answer_rate,
                report_abstention_rate=on_report.abstention_rate,
                report_balanced_accuracy=on_report.balanced_accuracy,
                squad_answered_rate=answered_share(squad, value) if squad is not None else None,
            )
        )
    return result


async def tune_threshold(
    knowledge: KnowledgeBase,
    mtrag: MtragSet,
    *,
    settings: AgentSettings,
    squad: SquadAnswerSet | None = None,
    squad_limit: int | None = 1000,
    limit: int | None = None,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
) -> ThresholdReport:
    """Every task's evidence score, found once by the agent with the threshold off (-1) and no LLM (follow-ups
    condensed extractively, quotes checked), then the threshold chosen on one half and reported on the other."""
    search_only = settings.model_copy(update={"min_similarity": -1.0})
    _, _, items = await ask_mtrag(
        knowledge,
        mtrag,
        under_test=AgentUnderTest(LLMSettings(), search_only),
        limit=limit,
        cache_dir=cache_dir,
        progress=progress,
    )
    squad_evidence: list[float | None] | None = None
    if squad is not None:
        _, _, squad_items = await ask_squad(
            knowledge,
            squad,
            under_test=AgentUnderTest(LLMSettings(), search_only),
            limit=squad_limit,
            cache_dir=cache_dir,
            progress=progress,
        )
        squad_evidence = [i.asked.evidence for i in squad_items]
    return threshold_report(mtrag.name, items, current=settings.min_similarity, squad=squad_evidence)
