"""Embeddings of short texts (questions) kept in memory, so a text seen again is not embedded again."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import numpy as np

from knowledge.embeddings.base import Embedder

DEFAULT_CAPACITY = 10_000
"""About 15 MB of 384-dimension vectors."""


class TextVectors:
    """An embedder's vectors by text, least recently used dropped first. Used for the dashboard's gap questions
    (re-embedded on every load before) and the verified answers' questions (re-embedded on every answer where
    one was among the hits)."""

    def __init__(self, embedder: Embedder, capacity: int = DEFAULT_CAPACITY) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    async def of(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, in order."""
        # Taken before the await: a concurrent call may evict while this one embeds.
        known = {text: self._vectors[text] for text in texts if text in self._vectors}
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            fresh = await asyncio.to_thread(self.embedder.embed_array, missing)
            # Rows copied out: a kept view would hold on to its whole batch (7.5 MB for 5,000 questions).
            known.update(zip(missing, [row.copy() for row in fresh], strict=True))
        for text in dict.fromkeys(texts):
            self._vectors[text] = known[text]
            self._vectors.move_to_end(text)
        while len(self._vectors) > max(self.capacity, len(known)):
            self._vectors.popitem(last=False)
        return np.stack([known[text] for text in texts])

    @property
    def cached(self) -> int:
        return len(self._vectors)
