"""The options that say where ingested documents are published (``--url-base``, ``--url-style``,
``--url-template``), shared by ``ingest`` and ``eval docs``."""

from __future__ import annotations

from typing import Annotated

import typer

from knowledge.published import URL_STYLES, PublishedSite, PublishedUrlError

UrlBaseOption = Annotated[
    str | None,
    typer.Option(help="Where the folder is published, e.g. https://docs.example.com (ingest keeps it; '' forgets)."),
]
UrlStyleOption = Annotated[str, typer.Option(help=f"How source paths become URLs: {', '.join(URL_STYLES)}.")]
UrlTemplateOption = Annotated[
    str | None, typer.Option(help="Explicit page URLs, e.g. https://wiki.example.com/{path}.html ({path}, {file}).")
]


def published_site(url_base: str | None, url_style: str, url_template: str | None) -> PublishedSite | None:
    """The site the options describe (None when they name none); a bad one stops the command with why."""
    if not url_base and not url_template:
        if url_style != "auto":
            raise typer.BadParameter("needs --url-base (or --url-template)", param_hint="--url-style")
        return None
    try:
        return PublishedSite.create(base=url_base, style=url_style, template=url_template)
    except PublishedUrlError as error:
        raise typer.BadParameter(str(error), param_hint="--url-base") from None
