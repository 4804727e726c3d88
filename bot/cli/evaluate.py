"""``threadwise eval retrieval``: retrieval quality on BEIR or SQuAD, in every search mode."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.app import cli_settings, database_url, err, eval_app, fail, knowledge_base, out, run_async
from knowledge.search import FUSIONS, SEARCH_MODES, Fusion, SearchMode, SearchParams

DEFAULTS = SearchParams()


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
    from knowledge.evaluation.datasets import load_beir, load_squad
    from knowledge.evaluation.runner import evaluate_retrieval

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
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

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
                    progress=report,
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
