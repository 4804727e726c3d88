"""TextVectors: each text embedded once, least recently used dropped first, safe under concurrent loads."""

from __future__ import annotations

import asyncio

import numpy as np

from agent.text_vectors import TextVectors
from tests.counting_embedder import CountingEmbedder


async def test_a_text_is_embedded_once_and_the_least_recent_is_dropped() -> None:
    embedder = CountingEmbedder()
    one_slot = TextVectors(embedder, capacity=1)
    first = await one_slot.of(["How do I deploy?", "Where is the office?", "How do I deploy?"])
    assert first.shape == (3, embedder.dims) and np.array_equal(first[0], first[2])
    assert embedder.embedded == ["How do I deploy?", "Where is the office?"]
    assert one_slot.cached == 2  # a load keeps all it needs, even over capacity

    again = await one_slot.of(["Where is the office?"])
    assert np.array_equal(again[0], first[1]) and embedder.embedded == ["How do I deploy?", "Where is the office?"]
    assert one_slot.cached == 1  # the older one dropped
    await one_slot.of(["How do I deploy?"])
    assert embedder.embedded[-1] == "How do I deploy?" and len(embedder.embedded) == 3


async def test_a_text_evicted_by_another_load_while_this_one_embeds_is_still_returned() -> None:
    vectors = TextVectors(CountingEmbedder(), capacity=1)
    before = await vectors.of(["old question", "recent question"])
    # The first load embeds "new question" in a thread; meanwhile the second, all cached, drops "old question".
    embedding, cached_only = await asyncio.gather(
        vectors.of(["old question", "new question"]), vectors.of(["recent question"])
    )
    assert np.array_equal(embedding[0], before[0]) and np.array_equal(cached_only[0], before[1])
