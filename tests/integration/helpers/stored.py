"""Database look-ups that several integration test modules make (Slack, Discord, verified answers)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from agent.models import Message
from agent.verified import VERIFIED_COLLECTION
from core.db import session_scope
from knowledge.models import Collection, Document
from knowledge.service import KnowledgeBase


async def stored_answer_for(kb: KnowledgeBase, platform_message_id: str) -> Message:
    """The answer row the worker tied to the posted message (it does so right after posting)."""
    for _ in range(100):
        async with session_scope(kb.sessionmaker) as session:
            found = await session.scalar(select(Message).where(Message.platform_message_id == platform_message_id))
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no answer stored for message {platform_message_id}")


async def verified_documents(kb: KnowledgeBase, tenant: str) -> list[str]:
    """The source URIs in the tenant's verified-answers collection (``agent.verified.source_uri`` of each)."""
    async with session_scope(kb.sessionmaker) as session:
        found = await session.scalars(
            select(Document.source_uri)
            .join(Collection, Collection.id == Document.collection_id)
            .where(Collection.tenant == tenant, Collection.name == VERIFIED_COLLECTION)
        )
        return list(found)
