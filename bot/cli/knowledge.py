"""Knowledge-base commands: ``ingest``, ``search``, ``collections list|delete``, ``reindex``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bot.cli.app import DEFAULT_TENANT, app, cli_settings, collections_app, database_url, err, knowledge_base, out
from bot.cli.app import run_async as run
from bot.cli.published import UrlBaseOption, UrlStyleOption, UrlTemplateOption, published_site
from knowledge.search import SEARCH_MODES, SearchMode

TenantOption = Annotated[
    str, typer.Option(help="Whose knowledge: local, a Slack workspace id (T…) or a Discord server id.")
]


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="Files, directories or http(s) URLs.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection to add them to.")] = "docs",
    tenant: TenantOption = DEFAULT_TENANT,
    prune: Annotated[bool, typer.Option(help="Remove documents whose files are gone from these directories.")] = False,
    include: Annotated[list[str] | None, typer.Option(help="Only files matching this glob (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Skip files matching this glob (repeatable).")] = None,
    url_base: UrlBaseOption = None,
    url_style: UrlStyleOption = "auto",
    url_template: UrlTemplateOption = None,
) -> None:
    """Add documents to a collection; unchanged ones cost nothing, changed ones are replaced."""
    site = published_site(url_base, url_style, url_template)
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)
    started = time.perf_counter()

    async def go() -> None:
        async with knowledge_base(settings, url) as kb:
            with _progress() as progress:
                task = progress.add_task(f"Ingesting into {escape(collection)}", total=None)

                def advance(uri: str, total: int | None) -> None:
                    if total is not None:
                        progress.update(task, total=total)
                    if uri:
                        progress.advance(task)

                report = await kb.ingest(
                    sources,
                    tenant=tenant,
                    collection=collection,
                    prune=prune,
                    include=include or (),
                    exclude=exclude or (),
                    progress=advance,
                    site=site,
                    forget_site=url_base == "" and not url_template,
                )
        elapsed = time.perf_counter() - started
        for uri, reason in report.skipped:
            err.print(f"[yellow]skipped[/] {escape(uri)}: {escape(reason)}", highlight=False)
        for uri, reason in report.failed:
            err.print(f"[red]failed[/] {escape(uri)}: {escape(reason)}", highlight=False)
        out.print(
            f"{report.collection}: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped, {len(report.failed)} failed, "
            f"{len(report.pruned)} pruned; {report.chunks_written} chunks written in {elapsed:.1f} s",
            highlight=False,
        )
        if report.failed:
            raise typer.Exit(1)

    run(go())


# An unknown word that looks like an option ("--frozen") becomes the query: people search for flags.
@app.command(context_settings={"ignore_unknown_options": True})
def search(
    query: Annotated[str, typer.Argument(help="What to look for; after `--` it may be anything, e.g. --json.")],
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Search only this collection (repeatable).")
    ] = None,
    tenant: TenantOption = DEFAULT_TENANT,
    mode: Annotated[str, typer.Option(help="hybrid, vector or keyword.")] = "hybrid",
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many results.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the knowledge base and show the best passages with their sources.

    A query may start with dashes (`threadwise search --frozen`); after `--` even an option is the query."""
    if mode not in SEARCH_MODES:
        raise typer.BadParameter(f"use one of {', '.join(SEARCH_MODES)}", param_hint="--mode")
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url) as kb:
            chosen: SearchMode = mode
            hits = await kb.search(query, tenant=tenant, collections=collection, mode=chosen, limit=limit)
        if as_json:
            out.print_json(json.dumps([asdict(hit) for hit in hits]))
            return
        if not hits:
            out.print("No results.")
            return
        for rank, hit in enumerate(hits, start=1):
            out.print(
                f"[bold][{rank}] {escape(hit.heading_path or hit.title)}[/]  "
                f"[dim]{escape(hit.url or hit.source_uri)} · "
                f"{hit.collection} · score {hit.score:.4f}[/]",
                highlight=False,
            )
            snippet = " ".join(hit.content.split())
            out.print(escape(snippet[:400] + ("…" if len(snippet) > 400 else "")), highlight=False)
            out.print()

    run(go())


@collections_app.command("list")
def collections_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's collections.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List collections with their embedding model and size."""
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url) as kb:
            found = await kb.collections(tenant=tenant)
        rows = [
            {
                "tenant": c.tenant,
                "name": c.name,
                "embedding_model": c.embedding_model,
                "dims": c.dims,
                "chunks": c.chunk_count,
                "updated_at": c.updated_at.isoformat(timespec="seconds"),
            }
            for c in found
        ]
        if as_json:
            out.print_json(json.dumps(rows))
            return
        table = Table("tenant", "name", "embedding model", "dims", "chunks", "updated")
        for row in rows:
            table.add_row(*(str(value) for value in row.values()))
        out.print(table if rows else "No collections yet: `threadwise ingest PATH --collection NAME`.")

    run(go())


@collections_app.command("delete")
def collections_delete(
    name: Annotated[str, typer.Argument(help="Collection to delete.")],
    tenant: TenantOption = DEFAULT_TENANT,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a collection with all its documents and chunks."""
    if not yes:
        typer.confirm(f"Delete collection {name!r} of tenant {tenant!r} and everything in it?", abort=True)
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url) as kb:
            await kb.delete_collection(tenant=tenant, name=name)
        out.print(f"Deleted {name}.")

    run(go())


@app.command()
def reindex(
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection to re-embed.")],
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """Re-embed a collection with the configured EMBEDDING_MODEL and rebuild its vector index."""
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url) as kb:
            with _progress() as progress:
                task = progress.add_task(f"Re-embedding {escape(collection)}", total=None)
                updated = await kb.reindex(
                    tenant=tenant,
                    name=collection,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
        out.print(f"{updated.name}: {updated.chunk_count} chunks re-embedded with {updated.embedding_model}.")

    run(go())
