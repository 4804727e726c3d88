"""``KnowledgeBase.engine``: the engine its sessions use, for the work that needs a connection of its own."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from core.db import create_sessionmaker
from core.settings import KnowledgeSettings
from knowledge.service import KnowledgeBase
from tests.counting_embedder import CountingEmbedder


async def test_the_engine_is_the_one_its_sessions_are_bound_to() -> None:
    engine = create_async_engine("postgresql+asyncpg://threadwise@127.0.0.1:1/none")  # never connects
    try:
        kb = KnowledgeBase(
            sessionmaker=create_sessionmaker(engine), embedder=CountingEmbedder(), settings=KnowledgeSettings()
        )
        assert kb.engine is engine
    finally:
        await engine.dispose()


def test_a_sessionmaker_bound_to_no_engine_has_none() -> None:
    kb = KnowledgeBase(sessionmaker=async_sessionmaker(), embedder=CountingEmbedder(), settings=KnowledgeSettings())
    with pytest.raises(TypeError, match="not an engine"):
        _ = kb.engine
