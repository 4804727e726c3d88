"""``threadwise keys create|list|revoke``: per-tenant API keys for the HTTP API and the dashboard."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bot.cli.app import app, cli_settings, database_url, fail, migrated_engine, out, run_async

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from bot.access.keys import ApiKeyStore, KeyInfo
    from core.settings import Settings

keys_app = typer.Typer(no_args_is_help=True, help="Per-tenant API keys for the HTTP API and the dashboard.")
app.add_typer(keys_app, name="keys")
MAX_NAME_CHARS = 100


class Scope(StrEnum):
    ask = "ask"
    admin = "admin"


@asynccontextmanager
async def key_store(settings: Settings, url: URL) -> AsyncIterator[ApiKeyStore]:
    """The key store on a migrated database; no embedder or agent is loaded for it."""
    from bot.access.keys import ApiKeyStore
    from core.db import create_sessionmaker

    async with migrated_engine(settings, url) as engine:
        yield ApiKeyStore(create_sessionmaker(engine))


@keys_app.command("create")
def keys_create(
    tenant: Annotated[
        str, typer.Option(help="The one tenant the key opens: local, a Slack workspace id (T…) or a Discord server id.")
    ],
    scope: Annotated[
        Scope, typer.Option(help="ask: ask and vote through the API; admin: also the tenant's dashboard.")
    ] = Scope.ask,
    name: Annotated[str | None, typer.Option(help="What the key is for, to recognise it.")] = None,
) -> None:
    """Make a key and print it once: only its hash is kept."""
    if name is not None and len(name) > MAX_NAME_CHARS:
        raise typer.BadParameter(f"at most {MAX_NAME_CHARS} characters", param_hint="--name")
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with key_store(settings, url) as store:
            created = await store.create(tenant=tenant, scope=scope.value, name=name)
        info = created.info
        out.print(f"Created API key {info.shown_prefix} for tenant {info.tenant} (scope {info.scope}):", markup=False)
        out.print(created.key, markup=False, highlight=False)
        out.print("Copy it now: it will not be shown again.", markup=False)

    run_async(go())


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _row(info: KeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "prefix": info.shown_prefix,
        "tenant": info.tenant,
        "scope": info.scope,
        "name": info.name,
        "created_at": _when(info.created_at),
        "last_used_at": _when(info.last_used_at),
        "revoked_at": _when(info.revoked_at),
    }


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List keys (never the keys themselves: their prefixes)."""
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> list[KeyInfo]:
        async with key_store(settings, url) as store:
            return await store.list(tenant=tenant)

    found = run_async(go())
    if as_json:
        out.print_json(json.dumps([_row(info) for info in found]))
        return
    if not found:
        out.print("No API keys yet: `threadwise keys create --tenant TENANT`.", markup=False)
        return
    table = Table("id", "prefix", "tenant", "scope", "name", "created", "last used", "revoked")
    for column in table.columns[:2]:
        column.no_wrap = True  # what `keys revoke` takes: kept whole to be copied
    for info in found:
        when = [_short(moment) for moment in (info.created_at, info.last_used_at, info.revoked_at)]
        table.add_row(str(info.id), info.shown_prefix, info.tenant, info.scope, info.name or "", *when)
    out.print(table)


def _short(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else ""


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(metavar="PREFIX_OR_ID", help="The key's prefix (tw_…), or its id.")],
) -> None:
    """Revoke a key: requests that present it are refused at once."""
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> KeyInfo | None:
        async with key_store(settings, url) as store:
            return await store.revoke(key)

    info = run_async(go())
    if info is None:
        fail(f"no API key {key!r}; `threadwise keys list` shows them")
    out.print(f"Revoked {info.shown_prefix} (tenant {info.tenant}, since {_when(info.revoked_at)}).", markup=False)
