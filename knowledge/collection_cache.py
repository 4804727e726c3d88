"""The collections a search looked up, reused for a couple of seconds.

Every question searches, and before it can, it must know the tenant's collections (their ids and vector sizes).
They change a few times a day; looking them up again for each question cost a bot under load a database round
trip and about 0.4 ms of its event loop per answer. A change made through the same ``KnowledgeBase`` clears the
cache at once; one made by another process (``threadwise ingest``, another replica) is seen within
``COLLECTIONS_FRESH_SECONDS``. Until then a new collection is not searched yet, and a deleted one finds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from knowledge.models import Collection

COLLECTIONS_FRESH_SECONDS = 2.0
MAX_ENTRIES = 1024
"""Tenant and collection-name sets remembered at once; past that the cache starts afresh."""

_Key = tuple[str, tuple[str, ...] | None]


class CollectionCache:
    """Collections found by tenant and names (None: all of the tenant's); only lookups that found them all."""

    def __init__(
        self, fresh_for: float = COLLECTIONS_FRESH_SECONDS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if fresh_for < 0:
            raise ValueError(f"fresh_for must not be negative, not {fresh_for}")
        self.fresh_for = fresh_for
        self.clock = clock
        self.generation = 0
        """Counts ``clear`` calls: a lookup that started before one must not be kept (``put`` checks)."""
        self._entries: dict[_Key, tuple[float, list[Collection]]] = {}

    def get(self, tenant: str, names: Sequence[str] | None) -> list[Collection] | None:
        entry = self._entries.get(_key(tenant, names))
        if entry is None or self.clock() >= entry[0]:
            return None
        return entry[1]

    def put(self, tenant: str, names: Sequence[str] | None, found: list[Collection], *, generation: int) -> None:
        """Keep ``found``, looked up when ``self.generation`` was ``generation``, unless the cache was cleared since
        (the collections changed while the lookup ran: it may have read them before the change)."""
        if self.fresh_for == 0 or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[_key(tenant, names)] = (self.clock() + self.fresh_for, found)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


def _key(tenant: str, names: Sequence[str] | None) -> _Key:
    return tenant, None if names is None else tuple(sorted(set(names)))
