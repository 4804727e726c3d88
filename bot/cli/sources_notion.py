"""``threadwise sources add notion``: the pages and databases shared with a Notion integration, as a source."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.app import DEFAULT_TENANT, sources_add_app
from bot.cli.sources import (
    CollectionOption,
    EveryOption,
    SyncOption,
    TenantOption,
    TokenEnvOption,
    TokenStdinOption,
    add_source,
    token_setting,
)


@sources_add_app.command("notion")
def sources_add_notion(
    collection: CollectionOption,
    token_env: TokenEnvOption = None,
    token_stdin: TokenStdinOption = False,
    name: Annotated[str, typer.Option(help="How to refer to it.")] = "notion",
    every: EveryOption = None,
    max_pages: Annotated[int, typer.Option(min=1, help="At most this many pages.")] = 1000,
    tenant: TenantOption = DEFAULT_TENANT,
    sync: SyncOption = True,
    api_url: Annotated[str, typer.Option(hidden=True, help="Where Notion's API is (tests use a fake).")] = (
        "https://api.notion.com"
    ),
) -> None:
    """Notion: every page and database shared with an integration (the token is its internal integration secret)."""
    add_source(
        kind="notion",
        name=name,
        collection=collection,
        settings={
            "token": token_setting(token_env=token_env, token_stdin=token_stdin),
            "api_url": api_url,
            "max_pages": max_pages,
        },
        every=every,
        tenant=tenant,
        sync=sync,
    )
