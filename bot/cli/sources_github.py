"""``threadwise sources add github OWNER/REPO``: a repository's documentation files, kept in step with a branch."""

from __future__ import annotations

from typing import Annotated, Any

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


@sources_add_app.command("github")
def sources_add_github(
    repository: Annotated[str, typer.Argument(help="OWNER/REPO, as in the repository's GitHub address.")],
    collection: CollectionOption = "docs",
    branch: Annotated[str | None, typer.Option(help="The branch to follow (default: the repository's).")] = None,
    glob: Annotated[
        list[str] | None,
        typer.Option(
            "--glob",
            help="Only files matching this .gitignore-style pattern, from the repository's root (repeatable; "
            "default: *.md *.mdx *.markdown *.rst *.txt outside hidden folders).",
        ),
    ] = None,
    url_base: Annotated[
        str | None,
        typer.Option(help="Where --site-folder is published: links go to its pages instead of GitHub."),
    ] = None,
    url_style: Annotated[
        str, typer.Option(help="How file paths become page URLs: auto, mkdocs, sphinx, docusaurus.")
    ] = "auto",
    site_folder: Annotated[
        str | None, typer.Option(help="The repository folder the site is built from, e.g. docs (default: the root).")
    ] = None,
    api_url: Annotated[str | None, typer.Option(help="GitHub Enterprise Server's API: https://HOST/api/v3.")] = None,
    token_env: TokenEnvOption = None,
    token_stdin: TokenStdinOption = False,
    max_files: Annotated[int, typer.Option(min=1, help="At most this many files.")] = 2000,
    name: Annotated[str | None, typer.Option(help="How to refer to it (default: OWNER/REPO).")] = None,
    every: EveryOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    sync: SyncOption = True,
) -> None:
    """A GitHub repository: its Markdown, MDX, reStructuredText and text files on a branch.

    A public repository needs no token; a private one needs a token that can read its contents."""
    if not url_base and (url_style != "auto" or site_folder):
        raise typer.BadParameter(
            "needs --url-base", param_hint="--url-style" if url_style != "auto" else "--site-folder"
        )
    settings: dict[str, Any] = {"repository": repository, "max_files": max_files}
    optional = {"branch": branch, "globs": glob or None, "url_base": url_base, "site_folder": site_folder}
    optional |= {"api_url": api_url, "url_style": url_style if url_base else None}
    settings |= {key: value for key, value in optional.items() if value is not None}
    if token_env is not None or token_stdin:
        settings["token"] = token_setting(token_env=token_env, token_stdin=token_stdin)
    add_source(
        kind="github",
        name=name or repository,
        collection=collection,
        settings=settings,
        every=every,
        tenant=tenant,
        sync=sync,
    )
