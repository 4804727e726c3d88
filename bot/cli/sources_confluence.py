"""``threadwise sources add confluence``: the pages of a Confluence Cloud space, kept in step with a collection."""

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


@sources_add_app.command("confluence")
def sources_add_confluence(
    base_url: Annotated[str, typer.Argument(help="The site: https://your-site.atlassian.net.")],
    space: Annotated[str, typer.Option(help="The space's key: ENG in /wiki/spaces/ENG/overview.")],
    email: Annotated[str, typer.Option(help="The Atlassian account the API token belongs to.")],
    collection: CollectionOption,
    token_env: TokenEnvOption = None,
    token_stdin: TokenStdinOption = False,
    name: Annotated[str | None, typer.Option(help="How to refer to it (default: confluence-<space key>).")] = None,
    every: EveryOption = None,
    max_pages: Annotated[int, typer.Option(min=1, help="At most this many pages.")] = 2000,
    tenant: TenantOption = DEFAULT_TENANT,
    sync: SyncOption = True,
) -> None:
    """A Confluence Cloud space: its pages, each under its ancestors' titles, read with an account's API token."""
    add_source(
        kind="confluence",
        name=name or f"confluence-{space.lower()}",
        collection=collection,
        settings={
            "base_url": base_url,
            "space": space,
            "email": email,
            "token": token_setting(token_env=token_env, token_stdin=token_stdin),
            "max_pages": max_pages,
        },
        every=every,
        tenant=tenant,
        sync=sync,
    )
