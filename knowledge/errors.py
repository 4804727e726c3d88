"""Errors of the knowledge base that users see: each message says what is wrong and what to do."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base of user-facing knowledge-base errors."""


class UnknownCollectionError(KnowledgeError):
    def __init__(self, tenant: str, names: list[str]) -> None:
        self.names = names
        listed = ", ".join(repr(n) for n in names)
        super().__init__(
            f"no collection {listed} for tenant {tenant!r}; see `threadwise collections list`"
            if len(names) == 1
            else f"no collections {listed} for tenant {tenant!r}; see `threadwise collections list`"
        )


class EmbeddingModelMismatchError(KnowledgeError):
    def __init__(self, collection: str, recorded: str, configured: str) -> None:
        super().__init__(
            f"collection {collection!r} was embedded with {recorded!r} but EMBEDDING_MODEL is {configured!r}; "
            f"vectors from different models cannot be mixed. Set EMBEDDING_MODEL back, or run "
            f"`threadwise reindex --collection {collection}` to re-embed it with {configured!r}"
        )


class InvalidQueryError(KnowledgeError):
    """An empty, oversized or otherwise unusable search query."""
