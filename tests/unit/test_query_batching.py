"""Search queries asked at the same moment share one run of the embedding model, and each gets its own vector."""

from __future__ import annotations

import asyncio

import numpy as np
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.settings import KnowledgeSettings
from knowledge.service import KnowledgeBase
from tests.counting_embedder import CountingEmbedder


async def test_queries_asked_together_share_a_model_run_and_get_their_own_vectors() -> None:
    embedder = CountingEmbedder()
    kb = KnowledgeBase(sessionmaker=async_sessionmaker(), embedder=embedder, settings=KnowledgeSettings())
    queries = ["how do I rotate the signing key?", "vpn", "Who approves a refund above the usual limit?"]

    together = await asyncio.gather(*(kb.embed_query(query) for query in queries))
    alone = [await kb.embed_query(query) for query in queries]

    assert embedder.calls == [queries, *([query] for query in queries)]
    for mine, reference in zip(together, alone, strict=True):
        assert mine.shape == (embedder.dims,)
        np.testing.assert_allclose(mine, reference, atol=1e-6)
    assert not np.allclose(together[0], together[1])
