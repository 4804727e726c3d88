"""Deleting whole conversations, for runs that make throwaway ones (``threadwise eval``, ``threadwise bench``).

Their messages and votes go with them (the foreign keys cascade). Production never deletes a conversation: ``forget``
only starts its memory afresh, and the messages stay for feedback and reports.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from agent.models import Conversation


async def delete_conversations(
    session: AsyncSession, *, tenant: str, platform: str | None = None, channel: str | None = None
) -> None:
    """Delete the tenant's conversations (only the platform's, and the channel's, when given), in the caller's
    unit of work."""
    statement = delete(Conversation).where(Conversation.tenant == tenant)
    if platform is not None:
        statement = statement.where(Conversation.platform == platform)
    if channel is not None:
        statement = statement.where(Conversation.channel == channel)
    await session.execute(statement)
