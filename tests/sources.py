"""A cited source for formatting tests, the same on every platform."""

from __future__ import annotations

from agent.schemas import Source


def source(number: int, uri: str) -> Source:
    return Source(
        number=number,
        title="Guide",
        heading_path="Guide › Install",
        source_uri=uri,
        chunk_id=number,
        collection="docs",
        similarity=0.8,
        excerpt="…",
    )
