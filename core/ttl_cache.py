"""A small in-process cache whose entries are fresh for a fixed time: for settings and facts that every event asks
about and that change rarely (another process's change shows up once the entry is stale)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MOST_ENTRIES = 10_000
"""Past this many entries everything is forgotten at once, rather than the cache growing without end."""


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, *, most: int = MOST_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must not be negative, not {ttl}")
        self.ttl = ttl
        self.most = most
        self.clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The value stored for ``key`` less than ``ttl`` seconds ago, else None."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and self.clock() - entry[0] < self.ttl else None

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self.most and key not in self._entries:
            self._entries.clear()
        self._entries[key] = (self.clock(), value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
