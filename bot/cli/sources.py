"""``threadwise sources add|list|show|sync|pause|resume|remove``: collections kept in step with a website."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.app import (
    DEFAULT_TENANT,
    cli_settings,
    database_url,
    err,
    fail,
    knowledge_base,
    out,
    run_async,
    sources_add_app,
    sources_app,
)

if TYPE_CHECKING:
    from knowledge.sources.service import Sources, SourceStatus

TenantOption = Annotated[
    str, typer.Option(help="Whose knowledge: local, a Slack workspace id (T…) or a Discord server id.")
]
NameArgument = Annotated[str, typer.Argument(help="The source's name (see `threadwise sources list`).")]
MIN_EVERY_SECONDS = 300
_EVERY = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int:
    """``90m``, ``6h``, ``1d`` → seconds; at least five minutes, so a typo cannot hammer someone's site."""
    found = _EVERY.match(text.lower())
    if found is None:
        raise typer.BadParameter("use a number and a unit: 30m, 6h, 1d")
    seconds = int(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    if seconds < MIN_EVERY_SECONDS:
        raise typer.BadParameter("at least 5m")
    return seconds


def _every_text(seconds: int | None) -> str:
    if seconds is None:
        return "on demand"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"every {seconds // size}{unit}"
    return f"every {seconds}s"


def _short(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "never"


def _as_dict(status: SourceStatus) -> dict[str, Any]:
    row = asdict(status)
    row["next_run_at"] = status.next_run_at
    return {
        key: value.isoformat(timespec="seconds") if isinstance(value, datetime) else value for key, value in row.items()
    }


def _with_sources(work: Callable[[Sources], Awaitable[None]]) -> None:
    """Run ``work`` on the configured database's sources (the one shape every command here shares)."""
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        from bot.services import build_sources

        async with knowledge_base(settings, url) as kb:
            await work(build_sources(settings, kb))

    run_async(go())


EveryOption = Annotated[str | None, typer.Option(help="Sync it on a schedule: 30m, 6h, 1d (default: on demand).")]
CollectionOption = Annotated[str, typer.Option("--collection", "-c", help="Collection its documents go to.")]
SyncOption = Annotated[bool, typer.Option(help="Sync it once now.")]
TokenEnvOption = Annotated[
    str | None, typer.Option(help="The environment variable holding the token (read at each sync, never stored).")
]
TokenStdinOption = Annotated[
    bool,
    typer.Option(
        help="Read the token from standard input and store it sealed with KNOWLEDGE_SOURCES_SECRET_KEY.",
    ),
]


def token_setting(*, token_env: str | None, token_stdin: bool) -> dict[str, str]:
    """The ``token`` setting of a source from the command's options: a variable's name, or the token sealed."""
    from knowledge.sources.secrets import TokenRef, seal

    if (token_env is None) == (not token_stdin):
        raise typer.BadParameter("give the token with --token-env NAME or --token-stdin (one of the two)")
    if token_env is not None:
        try:
            return TokenRef(env=token_env).model_dump(exclude_none=True)
        except ValueError:
            raise typer.BadParameter(f"not an environment variable name: {token_env!r}") from None
    import sys

    token = sys.stdin.readline().strip()
    if not token:
        raise typer.BadParameter("--token-stdin read an empty line")
    try:
        return seal(token, cli_settings(log_level="WARNING").knowledge.sources_secret_key).model_dump(exclude_none=True)
    except Exception as error:  # ConnectorError: no key, or not a key
        fail(str(error))
        raise AssertionError("unreachable") from None  # pragma: no cover


def add_source(
    *,
    kind: str,
    name: str,
    collection: str,
    settings: dict[str, Any],
    every: str | None,
    tenant: str,
    sync: bool,
) -> None:
    """What every ``sources add KIND`` command does once it has the kind's settings: store, then sync once."""
    every_seconds = parse_every(every) if every else None

    async def work(sources: Sources) -> None:
        await sources.add(
            tenant=tenant,
            name=name,
            kind=kind,
            collection=collection,
            settings=settings,
            every_seconds=every_seconds,
        )
        out.print(f"Added source {escape(name)} ({kind}, {_every_text(every_seconds)}) → {escape(collection)}.")
        if sync:
            await _sync(sources, tenant=tenant, name=name)

    _with_sources(work)


@sources_add_app.command("website")
def sources_add_website(
    urls: Annotated[list[str], typer.Argument(help="Start URLs: the site's pages and sitemap are found from them.")],
    collection: CollectionOption = "docs",
    name: Annotated[str | None, typer.Option(help="How to refer to it (default: the first URL's host).")] = None,
    every: EveryOption = None,
    max_pages: Annotated[int, typer.Option(min=1, help="At most this many pages.")] = 1000,
    max_depth: Annotated[int, typer.Option(min=0, help="Links followed at most this deep from a start URL.")] = 5,
    tenant: TenantOption = DEFAULT_TENANT,
    sync: SyncOption = True,
) -> None:
    """A website: its sitemap and the pages linked from the start URLs, within their host and folder."""
    from urllib.parse import urlsplit

    add_source(
        kind="website",
        name=name or (urlsplit(urls[0]).hostname or "source"),
        collection=collection,
        settings={"start_urls": urls, "max_pages": max_pages, "max_depth": max_depth},
        every=every,
        tenant=tenant,
        sync=sync,
    )


@sources_app.command("key")
def sources_key() -> None:
    """Print a new key for KNOWLEDGE_SOURCES_SECRET_KEY (seals the tokens of sources at rest)."""
    from knowledge.sources.secrets import new_key

    print(new_key())


@sources_app.command("list")
def sources_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's sources.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List sources with their state, last success, next run and last error."""

    async def work(sources: Sources) -> None:
        found = await sources.statuses(tenant=tenant)
        if as_json:
            out.print_json(json.dumps([_as_dict(s) for s in found]))
        elif not found:
            out.print("No sources yet: `threadwise sources add website https://docs.example.com --collection docs`.")
        else:
            _print_table(found, tenant=tenant)

    _with_sources(work)


def _print_table(found: list[SourceStatus], *, tenant: str | None) -> None:
    table = Table("source", "collection", "schedule", "state", "items", "last success", "next run")
    for s in found:
        state = "paused" if s.paused else s.state
        table.add_row(
            escape(s.name if tenant else f"{s.tenant}/{s.name}"),
            escape(s.collection),
            _every_text(s.every_seconds),
            f"[red]{state}[/]" if state == "failed" else state,
            str(s.items),
            _short(s.last_success_at),
            _short(s.next_run_at) if s.next_run_at else "—",
        )
    out.print(table)
    for s in found:
        if s.last_error:
            out.print(f"[red]{escape(s.name)}[/]: {escape(s.last_error)}", highlight=False)


@sources_app.command("show")
def sources_show(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Everything about one source, as JSON."""

    async def work(sources: Sources) -> None:
        out.print_json(json.dumps(_as_dict(await sources.get(tenant=tenant, name=name))))

    _with_sources(work)


async def _sync(sources: Sources, *, tenant: str, name: str) -> None:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task(f"Syncing {escape(name)}", total=None)

        def advance(item_url: str, done: int) -> None:
            progress.update(task, description=f"Syncing {escape(name)}: {done} items · {escape(item_url[-60:])}")

        report = await sources.sync(tenant=tenant, name=name, progress=advance)
    for uri, reason in report.failed:
        err.print(f"[red]failed[/] {escape(uri)}: {escape(reason)}", highlight=False)
    out.print(
        f"{escape(name)}: {report.listed} listed, {report.unchanged + report.not_modified} unchanged, "
        f"{report.fetched} fetched, {report.written} written ({report.chunks_written} chunks), {report.pruned} pruned"
    )
    if report.error:
        fail(f"the sync stopped: {report.error}")


@sources_app.command("sync")
def sources_sync(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Sync a source now: fetch what changed, prune what is gone."""

    async def work(sources: Sources) -> None:
        await _sync(sources, tenant=tenant, name=name)

    _with_sources(work)


def _set_paused(name: str, tenant: str, *, paused: bool) -> None:
    async def work(sources: Sources) -> None:
        await sources.pause(tenant=tenant, name=name, paused=paused)
        out.print(f"{'Paused' if paused else 'Resumed'} {escape(name)}.")

    _with_sources(work)


@sources_app.command("pause")
def sources_pause(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Stop syncing a source on its schedule (its documents stay)."""
    _set_paused(name, tenant, paused=True)


@sources_app.command("resume")
def sources_resume(name: NameArgument, tenant: TenantOption = DEFAULT_TENANT) -> None:
    """Sync a paused source on its schedule again."""
    _set_paused(name, tenant, paused=False)


@sources_app.command("remove")
def sources_remove(
    name: NameArgument,
    tenant: TenantOption = DEFAULT_TENANT,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a source and the documents it brought."""
    if not yes:
        typer.confirm(f"Remove source {name!r} of tenant {tenant!r} and its documents?", abort=True)

    async def work(sources: Sources) -> None:
        removed = await sources.remove(tenant=tenant, name=name)
        out.print(f"Removed {escape(name)} and its {removed} documents.")

    _with_sources(work)
