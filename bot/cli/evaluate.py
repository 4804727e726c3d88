"""``threadwise eval retrieval|answers|docs|threshold``: retrieval quality on BEIR or SQuAD in every search mode,
answer quality on SQuAD, MTRAG or a documentation folder (docs-qa) through the agent, and tuning the agent's
abstention threshold."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.app import DEFAULT_TENANT, cli_settings, database_url, eval_app, fail, knowledge_base, out, run_async
from bot.cli.progress import stage_progress
from bot.cli.published import UrlBaseOption, UrlStyleOption, published_site
from knowledge.search import FUSIONS, SEARCH_MODES, Fusion, SearchMode, SearchParams

if TYPE_CHECKING:
    from evals.answers.asking import AgentInfo
    from evals.answers.calibration import CalibrationReport
    from evals.answers.docs import DocsReport
    from evals.answers.mtrag import MtragAnswersReport
    from evals.answers.squad import SquadAnswersReport
    from evals.answers.threshold import ThresholdReport

DEFAULTS = SearchParams()
DEFAULT_SQUAD_QUESTIONS = 500


def _fusion(value: str) -> Fusion:
    for fusion in FUSIONS:
        if value == fusion:
            return fusion
    raise typer.BadParameter(f"use one of {', '.join(FUSIONS)}", param_hint="--fusion")


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Annotated[
        Path | None, typer.Option(help="A BEIR data set folder (corpus.jsonl, queries.jsonl, qrels/).")
    ] = None,
    squad: Annotated[Path | None, typer.Option(help="SQuAD v1.1 JSON (dev-v1.1.json).")] = None,
    split: Annotated[str, typer.Option(help="BEIR qrels split to score (tune on train, report test).")] = "test",
    mode: Annotated[list[str] | None, typer.Option(help="hybrid, vector, keyword (repeatable; default all).")] = None,
    max_queries: Annotated[int | None, typer.Option(min=1, help="Score only the first N queries.")] = None,
    cache: Annotated[
        bool, typer.Option(help="Keep corpus embeddings under APP_DATA_DIR/cache for the next run.")
    ] = True,
    candidates: Annotated[int, typer.Option(help="Depth of each ranker before fusion.")] = DEFAULTS.candidates,
    ef_search: Annotated[int, typer.Option(help="HNSW ef_search.")] = DEFAULTS.ef_search,
    fusion: Annotated[
        str, typer.Option(help="rrf (reciprocal rank) or score (min-max scaled scores).")
    ] = DEFAULTS.fusion,
    rrf_k: Annotated[int, typer.Option(help="Reciprocal-rank fusion constant.")] = DEFAULTS.rrf_k,
    vector_weight: Annotated[
        float, typer.Option(help="Weight of the vector ranking in fusion.")
    ] = DEFAULTS.vector_weight,
    keyword_weight: Annotated[
        float, typer.Option(help="Weight of the BM25 ranking in fusion.")
    ] = DEFAULTS.keyword_weight,
    k1: Annotated[float, typer.Option(help="BM25 k1.")] = DEFAULTS.k1,
    b: Annotated[float, typer.Option(help="BM25 b.")] = DEFAULTS.b,
    heading_weight: Annotated[
        float, typer.Option(help="BM25 weight of heading/title terms.")
    ] = DEFAULTS.heading_weight,
    max_df_ratio: Annotated[
        float, typer.Option(help="BM25 skips query terms in more than this share of chunks.")
    ] = DEFAULTS.max_df_ratio,
    postings_per_term: Annotated[
        int, typer.Option(min=0, help="BM25 postings read per query term, strongest first (0: all).")
    ] = DEFAULTS.postings_per_term or 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the figures.")] = False,
) -> None:
    """Load a public data set into a temporary collection and print nDCG@10, recall, MRR and latency."""
    from evals.load.retrieval_sets import load_beir, load_squad
    from evals.retrieval.runner import evaluate_retrieval

    if (beir is None) == (squad is None):
        fail("pass exactly one of --beir DIR or --squad FILE")
    modes: list[SearchMode] = []
    for chosen in mode or list(SEARCH_MODES):
        if chosen not in SEARCH_MODES:
            raise typer.BadParameter(f"use one of {', '.join(SEARCH_MODES)}", param_hint="--mode")
        modes.append(chosen)
    params = SearchParams(
        candidates=candidates,
        ef_search=ef_search,
        fusion=_fusion(fusion),
        rrf_k=rrf_k,
        vector_weight=vector_weight,
        keyword_weight=keyword_weight,
        k1=k1,
        b=b,
        heading_weight=heading_weight,
        max_df_ratio=max_df_ratio,
        postings_per_term=postings_per_term or None,
    )
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        dataset = load_beir(beir, split=split) if beir else load_squad(squad)  # type: ignore[arg-type]
        with stage_progress() as on_progress:
            async with knowledge_base(settings, url, role="eval") as kb:
                result = await evaluate_retrieval(
                    kb.sessionmaker,
                    kb.embedder,
                    kb.settings,
                    dataset,
                    modes=modes,
                    params=params,
                    cache_dir=settings.app.data_dir / "cache" if cache else None,
                    max_queries=max_queries,
                    progress=on_progress,
                )
        if as_json:
            print(json.dumps(asdict(result) | {"params": asdict(params), "embedder": kb.embedder.name}))
            return
        out.print(
            f"{result.dataset}: {result.documents:,} documents → {result.chunks:,} chunks, loaded in "
            f"{result.load_seconds:.1f} s; {result.modes[0].queries if result.modes else 0} queries; "
            f"embedder {kb.embedder.name}",
            highlight=False,
        )
        metric_names = list(result.modes[0].metrics) if result.modes else []
        table = Table("mode", *metric_names, "search p50 ms", "p95 ms")
        for mode_result in result.modes:
            table.add_row(
                mode_result.mode,
                *(f"{mode_result.metrics[name]:.4f}" for name in metric_names),
                f"{mode_result.search_ms['p50']:.1f}",
                f"{mode_result.search_ms['p95']:.1f}",
            )
        out.print(table)
        out.print(
            f"query embedding: p50 {result.embed_query_ms['p50']:.1f} ms, p95 {result.embed_query_ms['p95']:.1f} ms",
            highlight=False,
        )

    run_async(go())


def _figure(value: float | None, *, percent: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if percent else f"{value:.4f}"


def _agent_line(agent: AgentInfo) -> str:
    mode = f"LLM {agent.model}" if not agent.extractive else "extractive (no LLM_MODEL)"
    return f"agent: {mode}, AGENT_MIN_SIMILARITY {agent.min_similarity:g}, {agent.sources} sources"


@eval_app.command("answers")
def eval_answers(
    squad: Annotated[Path | None, typer.Option(help="SQuAD v1.1 JSON (dev-v1.1.json).")] = None,
    mtrag: Annotated[
        Path | None, typer.Option(help="MTRAG generation tasks (generation_tasks/reference.jsonl).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Ask only the first N questions or tasks (SQuAD default 500).")
    ] = None,
    min_similarity: Annotated[
        float | None, typer.Option(min=-1, max=1, help="AGENT_MIN_SIMILARITY for this run.")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Keep corpus embeddings under APP_DATA_DIR/cache for the next run.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the figures.")] = False,
) -> None:
    """Ask a data set's questions through the agent, over a temporary collection, and score the replies."""
    from evals.answers.asking import AgentUnderTest
    from evals.answers.mtrag import evaluate_mtrag_answers
    from evals.answers.squad import evaluate_squad_answers
    from evals.load.answer_sets import load_mtrag, load_squad_answers

    if (squad is None) == (mtrag is None):
        fail("pass exactly one of --squad FILE or --mtrag FILE")
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)
    cache_dir = settings.app.data_dir / "cache" if cache else None

    async def go() -> None:
        with stage_progress() as on_progress:
            async with knowledge_base(settings, url, role="eval") as kb:
                if squad is not None:
                    squad_report = await evaluate_squad_answers(
                        kb,
                        load_squad_answers(squad),
                        under_test=AgentUnderTest(settings.llm, settings.agent),
                        min_similarity=min_similarity,
                        limit=limit or DEFAULT_SQUAD_QUESTIONS,
                        cache_dir=cache_dir,
                        progress=on_progress,
                    )
                else:
                    mtrag_report = await evaluate_mtrag_answers(
                        kb,
                        load_mtrag(mtrag),  # type: ignore[arg-type]
                        under_test=AgentUnderTest(settings.llm, settings.agent),
                        min_similarity=min_similarity,
                        limit=limit,
                        cache_dir=cache_dir,
                        progress=on_progress,
                    )
        report = squad_report if squad is not None else mtrag_report
        if as_json:
            print(json.dumps(asdict(report) | {"embedder": kb.embedder.name}))
            return
        _print_header(report, kb.embedder.name)
        if squad is not None:
            _print_squad(squad_report)
        else:
            _print_mtrag(mtrag_report)

    run_async(go())


def _print_squad(report: SquadAnswersReport) -> None:
    noun = "reply" if not report.agent.extractive else "extract"
    table = Table("SQuAD", "value")
    table.add_row("questions", f"{report.questions:,}")
    for outcome, count in report.outcomes.items():
        table.add_row(outcome, f"{count:,} ({count / max(report.questions, 1):.1%})")
    for name, value in report.retrieval.items():
        table.add_row(f"gold paragraph retrieved, {name}", _figure(value))
    table.add_row(f"gold answer in the {noun} (answered)", _figure(report.contains_answer_rate))
    table.add_row(f"gold answer in the {noun} (all questions)", _figure(report.contains_answer_rate_all))
    if not report.agent.extractive:
        table.add_row("exact match / F1 (all questions)", f"{_figure(report.exact_match)} / {_figure(report.f1)}")
        table.add_row(
            "exact match / F1 (answered)",
            f"{_figure(report.exact_match_answered)} / {_figure(report.f1_answered)}",
        )
    latency = report.latency_ms
    table.add_row("latency p50 / p95 / p99", f"{latency['p50']:.0f} / {latency['p95']:.0f} / {latency['p99']:.0f} ms")
    out.print(table)


def _print_mtrag(report: MtragAnswersReport) -> None:
    table = Table("answerability", "tasks", "answered", "abstained", "errors")
    for name, figures in report.classes.items():
        table.add_row(
            name,
            f"{figures.count}",
            f"{figures.answered} ({figures.answered_rate:.1%})",
            f"{figures.abstained} ({figures.abstained_rate:.1%})",
            f"{figures.error}",
        )
    out.print(table)

    def verdict(met: bool) -> str:
        return "[green]met[/]" if met else "[red]not met[/]"

    out.print(
        f"answer rate on ANSWERABLE: {report.answerable_answer_rate:.1%} (target ≥ 80%: "
        f"{verdict(report.targets_met['answerable_answer_rate'])})",
        highlight=False,
    )
    out.print(
        f"abstention rate on UNANSWERABLE: {report.unanswerable_abstention_rate:.1%} (target ≥ 80%: "
        f"{verdict(report.targets_met['unanswerable_abstention_rate'])}); "
        f"balanced accuracy {report.balanced_accuracy:.1%}",
        highlight=False,
    )
    out.print(f"a reference passage retrieved (ANSWERABLE + PARTIAL): {report.context_recall:.1%}", highlight=False)
    if report.f1_answered_answerable is not None:
        out.print(f"token F1 vs the reference answers (answered ANSWERABLE): {report.f1_answered_answerable:.4f}")
    latency = report.latency_ms
    out.print(
        f"latency: p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms, p99 {latency['p99']:.0f} ms",
        highlight=False,
    )


@eval_app.command("docs")
def eval_docs(
    questions: Annotated[Path, typer.Option(help="docs-qa questions.jsonl (answerable, unanswerable, follow-ups).")],
    corpus: Annotated[Path, typer.Option(help="The documentation folder the questions are about.")],
    min_similarity: Annotated[
        float | None, typer.Option(min=-1, max=1, help="AGENT_MIN_SIMILARITY for this run.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the figures.")] = False,
    url_base: UrlBaseOption = None,
    url_style: UrlStyleOption = "auto",
) -> None:
    """Ingest a documentation folder into a temporary collection, ask docs-qa questions through the agent, and
    score the replies as the data set's README says."""
    from evals.answers.asking import AgentUnderTest
    from evals.answers.docs import evaluate_docs
    from evals.answers.docs_qa import load_docs_questions
    from knowledge.errors import KnowledgeError

    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)
    agent_settings = settings.agent
    if min_similarity is not None:
        agent_settings = agent_settings.model_copy(update={"min_similarity": min_similarity})
    try:
        asked = load_docs_questions(questions)
    except KnowledgeError as error:
        fail(str(error))
    if not corpus.is_dir():
        fail(f"{corpus} is not a folder; pass the documentation folder with --corpus")
    site = published_site(url_base or None, url_style, None)

    async def go() -> None:
        with stage_progress() as on_progress:
            async with knowledge_base(settings, url, role="eval") as kb:
                report = await evaluate_docs(
                    kb,
                    asked,
                    corpus=corpus,
                    under_test=AgentUnderTest(settings.llm, agent_settings),
                    progress=on_progress,
                    site=site,
                )
        if as_json:
            print(json.dumps(asdict(report) | {"embedder": kb.embedder.name}))
            return
        _print_header(report, kb.embedder.name, skipped=report.skipped)
        _print_docs(report)

    run_async(go())


def _print_docs(report: DocsReport) -> None:
    from evals.answers.docs import TARGET_P95_MS, TARGETS

    def verdict(name: str) -> str:
        return "[green]met[/]" if report.targets_met[name] else "[red]not met[/]"

    answerable, unanswerable, followup = (report.kinds[k] for k in ("answerable", "unanswerable", "followup"))
    table = Table("docs-qa", "items", "figure", "target")
    table.add_row(
        "answerable: correct",
        f"{answerable.correct}/{answerable.count}",
        f"{answerable.correct_rate:.1%}",
        f"≥ {TARGETS['answerable']:.0%} {verdict('answerable')}",
    )
    table.add_row(
        "answerable: source hit",
        f"{answerable.source_hits}/{answerable.count}",
        f"{answerable.source_hit_rate:.1%}",
        f"≥ {TARGETS['source_hit']:.0%} {verdict('source_hit')}",
    )
    table.add_row(
        "unanswerable: refused",
        f"{unanswerable.correct}/{unanswerable.count}",
        f"{unanswerable.correct_rate:.1%}",
        f"≥ {TARGETS['unanswerable']:.0%} {verdict('unanswerable')}",
    )
    table.add_row(
        "follow-ups: correct (turn 2)",
        f"{followup.correct}/{followup.count}",
        f"{followup.correct_rate:.1%}",
        f"≥ {TARGETS['followup']:.0%} {verdict('followup')}",
    )
    table.add_row(
        "follow-ups: source hit", f"{followup.source_hits}/{followup.count}", f"{followup.source_hit_rate:.1%}", ""
    )
    latency = report.latency_ms
    table.add_row(
        "latency p50 / p95 (every turn)",
        "",
        f"{latency['p50']:.0f} / {latency['p95']:.0f} ms",
        f"p95 ≤ {TARGET_P95_MS:.0f} ms {verdict('p95')}",
    )
    out.print(table)
    outcomes = ", ".join(
        f"{kind} {' / '.join(f'{n} {o}' for o, n in figures.outcomes.items())}"
        for kind, figures in report.kinds.items()
    )
    out.print(f"outcomes: {outcomes}", highlight=False)


@eval_app.command("threshold")
def eval_threshold(
    mtrag: Annotated[
        Path | None, typer.Option(help="MTRAG generation tasks (generation_tasks/reference.jsonl).")
    ] = None,
    squad: Annotated[
        Path | None, typer.Option(help="SQuAD v1.1 JSON: also report how many real questions the threshold answers.")
    ] = None,
    squad_limit: Annotated[int, typer.Option(min=1, help="SQuAD questions to check.")] = 1000,
    limit: Annotated[int | None, typer.Option(min=1, help="Use only the first N MTRAG tasks.")] = None,
    questions: Annotated[
        Path | None,
        typer.Option(help='Your own labelled questions (JSON Lines: {"question": "…", "answerable": true}).'),
    ] = None,
    collection: Annotated[str | None, typer.Option(help="The collection to calibrate with --questions.")] = None,
    tenant: Annotated[str, typer.Option(help="Whose collection.")] = DEFAULT_TENANT,
    save: Annotated[bool, typer.Option(help="Store the chosen threshold on the collection.")] = True,
    cache: Annotated[
        bool, typer.Option(help="Keep corpus embeddings under APP_DATA_DIR/cache for the next run.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the figures.")] = False,
) -> None:
    """Choose the abstention threshold: for one collection from your own questions, or AGENT_MIN_SIMILARITY
    from MTRAG.

    With --questions and --collection, each question is asked against the collection as it stands and the
    threshold with the best balanced accuracy (answered share of the answerable questions, refused share of the
    others) is stored on the collection for the current answer mode; answers drawn from it use that threshold
    from then on (--no-save only reports it).

    With --mtrag, each task's evidence score is found once (the agent with the threshold off and no LLM); the
    threshold maximising balanced accuracy on half of the conversations is then scored on the other half, split
    by a hash of the conversation id.
    """
    if questions is not None or collection is not None:
        if questions is None or collection is None:
            fail("calibrating a collection needs both --questions FILE and --collection NAME")
        _calibrate(questions, collection, tenant=tenant, save=save, as_json=as_json)
        return
    if mtrag is None:
        fail("pass --questions FILE --collection NAME to calibrate a collection, or --mtrag FILE")
    from evals.answers.threshold import tune_threshold
    from evals.load.answer_sets import load_mtrag, load_squad_answers

    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        with stage_progress() as on_progress:
            async with knowledge_base(settings, url, role="eval") as kb:
                report = await tune_threshold(
                    kb,
                    load_mtrag(mtrag),
                    settings=settings.agent,
                    squad=load_squad_answers(squad) if squad is not None else None,
                    squad_limit=squad_limit,
                    limit=limit,
                    cache_dir=settings.app.data_dir / "cache" if cache else None,
                    progress=on_progress,
                )
        if as_json:
            print(json.dumps(asdict(report) | {"embedder": kb.embedder.name}))
            return
        _print_threshold(report)

    run_async(go())


def _print_header(
    report: SquadAnswersReport | MtragAnswersReport | DocsReport, embedder: str, *, skipped: int | None = None
) -> None:
    """What was loaded and which agent answered: the first two lines of every answers report."""
    chunks = f"{report.chunks:,} chunks" + (f" ({skipped} skipped)" if skipped is not None else "")
    out.print(
        f"{report.dataset}: {report.documents:,} documents → {chunks}, loaded in {report.load_seconds:.1f} s; "
        f"embedder {embedder}",
        highlight=False,
    )
    out.print(_agent_line(report.agent), highlight=False)


def _calibrate(questions: Path, collection: str, *, tenant: str, save: bool, as_json: bool) -> None:
    from evals.answers.asking import AgentUnderTest
    from evals.answers.calibration import calibrate_collection, load_labelled_questions

    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        labelled = load_labelled_questions(questions)
        with stage_progress() as on_progress:
            async with knowledge_base(settings, url, role="eval") as kb:
                report = await calibrate_collection(
                    kb,
                    labelled,
                    tenant=tenant,
                    collection=collection,
                    under_test=AgentUnderTest(settings.llm, settings.agent),
                    save=save,
                    progress=on_progress,
                )
        if as_json:
            print(json.dumps(asdict(report)))
            return
        _print_calibration(report)

    run_async(go())


def _print_calibration(report: CalibrationReport) -> None:
    table = Table("threshold", "answerable answered", "unanswerable refused", "balanced accuracy")
    for rates, label in ((report.current, "before"), (report.chosen, "chosen")):
        table.add_row(
            f"{rates.threshold:g} ({label})",
            f"{rates.answer_rate:.0%} of {rates.answerable}",
            f"{rates.abstention_rate:.0%} of {rates.unanswerable}",
            f"{rates.balanced_accuracy:.3f}",
        )
    out.print(table)
    where = f"collection {report.collection!r} ({report.mode} answers)"
    if report.saved:
        out.print(f"Stored threshold {report.threshold:g} on {where}.")
    else:
        out.print(f"Threshold {report.threshold:g} suits {where}; not stored (--no-save).")
    misjudged = [
        item
        for item in report.items
        if (item.evidence is not None and item.evidence >= report.threshold) != item.answerable
    ]
    for item in misjudged[:10]:
        verdict = "refused though answerable" if item.answerable else "answered though unanswerable"
        evidence = "nothing found" if item.evidence is None else f"evidence {item.evidence:.3f}"
        out.print(f"  [dim]{verdict} ({evidence}):[/] {escape(item.question[:120])}")


def _print_threshold(report: ThresholdReport) -> None:
    split = report.split
    out.print(
        f"{report.dataset}: {report.tasks} tasks; tuning half {split['tune']['all']} "
        f"({split['tune']['ANSWERABLE']} answerable, {split['tune']['UNANSWERABLE']} unanswerable), report half "
        f"{split['report']['all']} ({split['report']['ANSWERABLE']} answerable, "
        f"{split['report']['UNANSWERABLE']} unanswerable)",
        highlight=False,
    )
    medians = ", ".join(f"{name} {value:.3f}" for name, value in report.evidence_median.items())
    out.print(f"median evidence score: {medians}", highlight=False)
    table = Table("threshold", "tune: balanced acc.", "report: answer rate", "report: abstention", "report: bal. acc.")
    has_squad = report.squad_answered_rate is not None
    if has_squad:
        table.add_column("SQuAD answered")
    for row in report.sweep:
        marks = " ← chosen" if row.threshold == report.threshold else ""
        if row.threshold == report.current.threshold:
            marks += " ← current"
        cells = [
            f"{row.threshold:.3f}{marks}",
            f"{row.tune_balanced_accuracy:.1%}",
            f"{row.report_answer_rate:.1%}",
            f"{row.report_abstention_rate:.1%}",
            f"{row.report_balanced_accuracy:.1%}",
        ]
        if has_squad:
            cells.append(_figure(row.squad_answered_rate))
        table.add_row(*cells)
    out.print(table)
    out.print(
        f"chosen on the tuning half: [bold]AGENT_MIN_SIMILARITY={report.threshold:g}[/] (tuning balanced accuracy "
        f"{report.tune.balanced_accuracy:.1%})",
        highlight=False,
    )
    out.print(
        f"report half at {report.threshold:g}: answers {report.report.answer_rate:.1%} of ANSWERABLE, abstains on "
        f"{report.report.abstention_rate:.1%} of UNANSWERABLE (balanced accuracy "
        f"{report.report.balanced_accuracy:.1%}); answers {report.report_other_classes['PARTIAL']:.1%} of PARTIAL "
        f"and {report.report_other_classes['UNDERSPECIFIED']:.1%} of UNDERSPECIFIED",
        highlight=False,
    )
    out.print(
        f"report half at the current {report.current.threshold:g}: answers {report.current.answer_rate:.1%}, "
        f"abstains {report.current.abstention_rate:.1%}",
        highlight=False,
    )
    if has_squad:
        out.print(
            f"SQuAD ({report.squad_questions} questions, all answerable) answered at {report.threshold:g}: "
            f"{_figure(report.squad_answered_rate)} (at the current {report.current.threshold:g}: "
            f"{_figure(report.squad_answered_rate_current)})",
            highlight=False,
        )
