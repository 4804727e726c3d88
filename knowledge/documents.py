"""The shapes a document takes on its way into the knowledge base: loaded, then cut into chunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HEADING_SEPARATOR = " › "


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A loaded document, its text normalised to Markdown (``#`` headings) whatever its original format."""

    source_uri: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A piece of a document sized for the embedder, with the headings it sits under."""

    ordinal: int
    heading_path: tuple[str, ...]
    content: str
    token_count: int

    @property
    def title(self) -> str:
        """The heading path as people read it: "Guide › Install › Linux"."""
        return HEADING_SEPARATOR.join(self.heading_path)

    def embedding_text(self) -> str:
        """What gets embedded: the heading path gives a chunk the context its text leaves out."""
        return f"{self.title}\n{self.content}" if self.heading_path else self.content
