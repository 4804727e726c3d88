"""``threadwise bench retrieval|ingest|agent``: speed figures, printed (or as one JSON object with --json)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.app import bench_app, cli_settings, database_url, knowledge_base, out, run_async
from bot.cli.progress import stage_progress
from knowledge.search import SearchParams

if TYPE_CHECKING:
    from evals.speed.ingest import IngestBenchmark


@bench_app.command("retrieval")
def bench_retrieval_command(
    chunks: Annotated[int, typer.Option(min=1000, help="Synthetic chunks to search (e.g. 100000 or 1000000).")],
    queries: Annotated[int, typer.Option(min=10, help="Timed queries per mode (after 20 warm-up queries).")] = 200,
    keep: Annotated[
        bool, typer.Option(help="Keep the synthetic collection for the next run (tenant 'bench').")
    ] = False,
    ef_search: Annotated[int, typer.Option(help="HNSW ef_search.")] = SearchParams().ef_search,
    candidates: Annotated[int, typer.Option(help="Depth of each ranker before fusion.")] = SearchParams().candidates,
    postings_per_term: Annotated[
        int, typer.Option(min=0, help="BM25 postings read per query term, strongest first (0: all).")
    ] = SearchParams().postings_per_term or 0,
    index_memory_mb: Annotated[
        int, typer.Option(min=64, help="maintenance_work_mem for the HNSW build, in MB.")
    ] = 2048,
    pgvector: Annotated[
        bool, typer.Option(help="Also time LangChain's PGVector.similarity_search on the same chunks.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Query latency (p50/p95/p99, query embedding excluded) of each mode over N synthetic chunks, beside
    LangChain's PGVector on the same chunks."""
    from evals.speed.retrieval import bench_retrieval

    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url, role="bench") as kb:
            with stage_progress() as report:
                result = await bench_retrieval(
                    kb.sessionmaker,
                    chunks=chunks,
                    queries=queries,
                    keep=keep,
                    index_memory_mb=index_memory_mb,
                    pgvector_url=url if pgvector else None,
                    params=SearchParams(
                        ef_search=ef_search, candidates=candidates, postings_per_term=postings_per_term or None
                    ),
                    progress=report,
                )
            embed_ms = _query_embedding_ms(kb.embedder)
        if as_json:
            print(json.dumps(asdict(result) | {"query_embedding_ms": embed_ms}))
            return
        load = (
            "reused a kept collection"
            if result.reused
            else (
                f"COPY {result.copy_rows_per_second:,.0f} rows/s "
                f"({result.generate_and_copy_seconds:.0f} s incl. text generation), "
                f"term statistics {result.term_stats_seconds:.1f} s, HNSW build {result.index_build_seconds:.1f} s"
            )
        )
        out.print(f"{result.chunks:,} chunks × {result.dims} dims, chunks table {result.table_size_mb:,.0f} MB; {load}")
        table = Table("mode", "p50 ms", "p95 ms", "p99 ms")
        for mode, latency in result.latency_ms.items():
            table.add_row(mode, f"{latency['p50']:.1f}", f"{latency['p95']:.1f}", f"{latency['p99']:.1f}")
        out.print(table)
        if result.pgvector is not None:
            alt = result.pgvector
            out.print(
                f"LangChain PGVector.similarity_search on the same chunks (loaded in {alt.load_seconds:.0f} s): "
                f"as it ships (exact scan) p50 {alt.latency_ms['p50']:.1f} ms, {alt.ratio_p50:.1f}× our vector mode; "
                f"with an HNSW index (built in {alt.hnsw_index_seconds:.0f} s) "
                f"p50 {alt.hnsw_latency_ms['p50']:.1f} ms, {alt.hnsw_ratio_p50:.1f}×"
            )
        if result.keyword_overlap_with_exact_at_10 is not None:
            out.print(
                f"keyword top 10 vs exact BM25 (all postings): {result.keyword_overlap_with_exact_at_10:.1%} the same"
            )
        out.print(f"query embedding (local, separate): p50 {embed_ms['p50']:.1f} ms, p95 {embed_ms['p95']:.1f} ms")

    run_async(go())


def _query_embedding_ms(embedder: object) -> dict[str, float]:
    import time

    from evals.toolkit.stats import percentile

    samples = []
    texts = [f"how do I configure the {word} integration for my team?" for word in ("slack", "discord", "sso", "api")]
    for index in range(60):
        tick = time.perf_counter()
        embedder.embed_query(texts[index % len(texts)])  # type: ignore[attr-defined]
        if index >= 10:
            samples.append((time.perf_counter() - tick) * 1000)
    return {f"p{q}": round(percentile(samples, q), 2) for q in (50, 95)}


@bench_app.command("ingest")
def bench_ingest_command(
    beir: Annotated[Path, typer.Option(help="A BEIR corpus folder to use as data (e.g. SciFact).")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Use only the first N documents (about 1,000 take 1–3 minutes).")
    ] = None,
    end_to_end: Annotated[
        bool, typer.Option(help="Also time real ingests with the configured embedder, and it alone on their texts.")
    ] = True,
    rounds: Annotated[
        int, typer.Option(min=1, help="End-to-end runs of each kind, each beside its bare embedder run.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Database write path (chunks/s, embedding excluded): COPY vs langchain-postgres; then end-to-end ingest
    beside the bare embedder on the same texts, in the same calls."""
    from evals.load.retrieval_sets import load_beir
    from evals.speed.ingest import bench_ingest

    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        documents = load_beir(beir, split=_any_split(beir)).documents[:limit]
        async with knowledge_base(settings, url, role="bench") as kb:
            with stage_progress() as report:
                result = await bench_ingest(
                    kb.sessionmaker,
                    url,
                    kb.embedder,
                    kb.settings,
                    documents,
                    end_to_end=end_to_end,
                    rounds=rounds,
                    progress=report,
                )
        if as_json:
            print(json.dumps(asdict(result)))
            return
        out.print(
            f"{result.documents:,} documents → {result.chunks:,} chunks (chunked in {result.chunking_seconds:.1f} s)"
        )
        table = Table("write path (embedding excluded)", "seconds", "chunks/s")
        table.add_row(
            "Threadwise (asyncpg COPY + BM25 stats)",
            f"{result.threadwise_write_seconds:.2f}",
            f"{result.threadwise_chunks_per_second:,.0f}",
        )
        table.add_row(
            "langchain-postgres PGVector.add_embeddings",
            f"{result.pgvector_write_seconds:.2f}",
            f"{result.pgvector_chunks_per_second:,.0f}",
        )
        table.add_row(
            "PostgreSQL text-search parsing alone (the tsv column)",
            f"{result.text_search_parse_seconds:.2f}",
            f"{result.text_search_parse_chunks_per_second:,.0f}",
        )
        out.print(table)
        out.print(
            f"speed-up: {result.speedup}×; HNSW build after the load: {result.threadwise_index_build_seconds:.1f} s"
        )
        if end_to_end:
            _print_end_to_end(result)

    run_async(go())


def _print_end_to_end(result: IngestBenchmark) -> None:
    out.print(
        f"end to end (load + chunk + embed + write + index): {result.end_to_end_seconds:.1f} s, "
        f"{result.end_to_end_documents_per_second:.1f} documents/s"
    )
    out.print("end to end, and the bare embedder alone on the same texts in the same calls:")
    table = Table("path", "chunks", "embed calls", "end to end s", "chunks/s", "bare s", "bare chunks/s", "ratio")
    for run in result.rounds:
        table.add_row(
            run.path,
            f"{run.chunks:,}",
            f"{run.embed_calls:,}",
            f"{run.seconds:.1f}",
            f"{run.chunks_per_second:.1f}",
            f"{run.bare_embedder_seconds:.1f}",
            f"{run.bare_embedder_chunks_per_second:.1f}",
            f"{run.ratio:.0%}",
        )
    out.print(table)
    for path, end_to_end, bare, ratio in (
        (
            "threadwise ingest",
            result.end_to_end_chunks_per_second,
            result.bare_embedder_chunks_per_second,
            result.end_to_end_ratio,
        ),
        ("source sync", result.sync_chunks_per_second, result.sync_bare_embedder_chunks_per_second, result.sync_ratio),
    ):
        out.print(
            f"{path}: {end_to_end:.1f} chunks/s end to end, bare embedder {bare:.1f} chunks/s: {ratio:.0%}",
            highlight=False,
        )


def _any_split(folder: Path) -> str:
    splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
    return "test" if "test" in splits else (splits[0] if splits else "test")


@bench_app.command("agent")
def bench_agent_command(
    chunks: Annotated[int, typer.Option(min=1000, help="Synthetic chunks in the collection searched.")] = 100_000,
    questions: Annotated[int, typer.Option(min=10, help="Timed questions (after the warm-up ones).")] = 200,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed warm-up questions.")] = 20,
    keep: Annotated[
        bool, typer.Option(help="Keep a synthetic collection built by this run (tenant 'bench') for the next run.")
    ] = False,
    index_memory_mb: Annotated[
        int, typer.Option(min=64, help="maintenance_work_mem for the HNSW build, in MB.")
    ] = 2048,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Agent overhead per answer (p50/p95/p99) with an instant scripted chat model over N synthetic chunks.

    Every step runs for real (memory, condensing, local query embedding, hybrid search, saving); only the chat
    model is instant. Half the questions are follow-ups in a conversation with earlier turns.
    """
    from evals.speed.agent import bench_agent

    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url, role="bench") as kb:
            with stage_progress() as report:
                result = await bench_agent(
                    kb,
                    chunks=chunks,
                    questions=questions,
                    warmup=warmup,
                    keep=keep,
                    index_memory_mb=index_memory_mb,
                    progress=report,
                )
        if as_json:
            print(json.dumps(result.as_dict()))
            return
        load = result.load
        how = (
            "reused a kept collection"
            if load.reused
            else (
                f"built it: {load.generate_and_copy_seconds:.0f} s generating and copying, term statistics "
                f"{load.term_stats_seconds:.1f} s, HNSW build {load.index_build_seconds:.1f} s"
            )
        )
        out.print(f"{result.chunks:,} synthetic chunks ({how})", highlight=False)
        out.print(
            f"{result.questions} timed answers after {result.warmup} warm-up, {result.follow_ups} of them follow-ups; "
            f"chat model {result.model} (instant), embedder {result.embedder}; outcomes "
            + ", ".join(f"{name} {count}" for name, count in result.outcomes.items()),
            highlight=False,
        )
        table = Table("per answer", "p50 ms", "p95 ms", "p99 ms")
        for label, latency in (
            ("total (AgentService.answer)", result.latency_ms),
            ("  query embedding (while memory loads)", result.query_embedding_ms),
            ("  search", result.search_ms),
            ("new conversation", result.new_conversation_ms),
            ("follow-up (memory with turns)", result.follow_up_ms),
        ):
            table.add_row(label, f"{latency['p50']:.1f}", f"{latency['p95']:.1f}", f"{latency['p99']:.1f}")
        out.print(table)
        verdict = "[green]met[/]" if result.target_met else "[red]not met[/]"
        out.print(
            f"p95 {result.latency_ms['p95']:.1f} ms against the target of {result.target_p95_ms:.0f} ms: {verdict}",
            highlight=False,
        )

    run_async(go())
