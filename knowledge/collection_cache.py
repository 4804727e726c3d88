"""The collections a search looked up, reused for a couple of seconds.

Every question searches, and before it can, it must know the tenant's collections (their ids and vector sizes).
They change a few times a day; looking them up again for each question cost a bot under load a database round
trip and about 0.4 ms of its event loop per answer. A change made through the same ``KnowledgeBase`` clears the
cache at once; one made by another process (``threadwise ingest``, another replica) is seen within
``COLLECTIONS_FRESH_SECONDS``. Until then a new collection is not searched yet, and a deleted one finds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

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
        self._generation = 0  # counts clear() calls
        self._entries: dict[_Key, tuple[float, list[Collection]]] = {}

    async def get_or_load(
        self, tenant: str, names: Sequence[str] | None, load: Callable[[], Awaitable[list[Collection]]]
    ) -> list[Collection]:
        """The fresh lookup kept for ``tenant`` and ``names``, or ``load()``'s, kept unless the cache was cleared
        while it ran (the collections changed meanwhile: it may have read them as they were before)."""
        key = _key(tenant, names)
        entry = self._entries.get(key)
        if entry is not None and self.clock() < entry[0]:
            return entry[1]
        generation = self._generation
        found = await load()
        if self.fresh_for > 0 and generation == self._generation:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (self.clock() + self.fresh_for, found)
        return found

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()


def _key(tenant: str, names: Sequence[str] | None) -> _Key:
    return tenant, None if names is None else tuple(sorted(set(names)))
