"""The connector protocol: an async stream of item references, each fetched only when it may have changed.

A connector knows one kind of place (a website, a repository, a wiki) and nothing of the database. The sync engine
(``knowledge.sources.sync``) lists the items, compares each one's version token with the one stored at the last
sync, fetches only what may have changed, writes the documents and prunes what is gone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from knowledge.documents import SourceDocument

TENANT_WIDE = "tenant"
"""The audience of an item anyone in the tenant may be shown (a public website, a shared wiki)."""


@dataclass(frozen=True, slots=True)
class ItemRef:
    """One item as the listing shows it, before its body is fetched."""

    key: str
    """Stable within the source: a canonical URL, a file path, a page id."""
    url: str
    """Where people read the original; the document's source URI."""
    version: str | None = None
    """A token that changes when the item does (``updated_at``, a git blob sha), when the listing gives one; an
    unchanged token skips the fetch. None: only fetching can tell (a conditional request)."""
    title: str = ""
    audience: str = TENANT_WIDE
    """Who may be shown it: ``tenant``, or a channel's audience for chat history."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """An item's body, as a document, and the version token to store for the next sync."""

    document: SourceDocument
    version: str


@dataclass(frozen=True, slots=True)
class NotModified:
    """The place said the item is as it was (HTTP 304): nothing is fetched, nothing re-embedded."""


@dataclass(frozen=True, slots=True)
class Gone:
    """The item was listed but is no longer there (404, 410): it is pruned like one missing from the listing."""


class Connector(Protocol):
    kind: str
    """``website``, ``github``, …: what ``threadwise sources add KIND`` names."""

    def items(self) -> AsyncIterator[ItemRef]:
        """Every item of the source, each once. A connector bounds its own work (page and depth caps)."""
        ...

    async def fetch(self, item: ItemRef, known_version: str | None) -> Fetched | NotModified | Gone:
        """The item's body, unless ``known_version`` (what the last sync stored) shows it unchanged."""
        ...

    async def aclose(self) -> None:
        """Close the connector's HTTP clients."""
        ...


class ConnectorError(RuntimeError):
    """A failure the sync engine records on the source as its last error (a message for people, no secret)."""
