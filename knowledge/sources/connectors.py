"""The kinds of source, each with its connector, built from a source's stored settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from knowledge.errors import KnowledgeError
from knowledge.sources.protocol import Connector

KINDS = frozenset({"website"})


def connector_for(
    kind: str, settings: Mapping[str, Any], *, known_versions: Mapping[str, str] | None = None, max_bytes: int
) -> Connector:
    """A connector for one run of a source (its request budget and caches are that run's); ``known_versions`` (item
    key → the version stored by the last sync) lets it ask the place conditionally. Raises ``KnowledgeError`` naming
    what is wrong with ``settings``."""
    if kind == "website":
        from knowledge.sources.website import WebsiteConnector, WebsiteSettings

        try:
            parsed = WebsiteSettings.model_validate(dict(settings))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise KnowledgeError(f"website source settings: {problems}") from None
        return WebsiteConnector(parsed, known_versions=known_versions, max_bytes=max_bytes)
    raise KnowledgeError(f"unknown source kind {kind!r}; one of: {', '.join(sorted(KINDS))}")
