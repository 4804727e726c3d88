"""First-run help: a fresh install ingests into the ``local`` tenant, while a Slack workspace's tenant is its team
id and a Discord server's its guild id. Until someone reads the docs every question there finds nothing; the bot
says why and how to fix it instead of a bare "I couldn't find that"."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.schemas import AnswerReply
from bot.access.principal import DEFAULT_TENANT
from bot.events import ChatEvent
from core.db import session_scope
from core.ttl_cache import TtlCache
from knowledge.collections import list_collections

CHECK_EVERY_SECONDS = 60.0
"""How long a tenant's having documents is remembered: refusals are common, ingesting is rare."""


def first_run_hint(*, platform: str, tenant: str, default_tenant: str = DEFAULT_TENANT) -> str:
    return (
        f"This {'workspace' if platform == 'slack' else 'server'} has no documents yet (its tenant is `{tenant}`), "
        f"while the default tenant `{default_tenant}` has some. Either ingest documents for it "
        f"(`threadwise ingest PATH --tenant {tenant}`) or answer from `{default_tenant}` "
        f"(set `{platform.upper()}_TENANT={default_tenant}` and restart)."
    )


class FirstRunHelp:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, default_tenant: str = DEFAULT_TENANT) -> None:
        self.sessionmaker = sessionmaker
        self.default_tenant = default_tenant
        self._known: TtlCache[str, bool] = TtlCache(CHECK_EVERY_SECONDS)

    async def explain(self, event: ChatEvent, reply: AnswerReply) -> AnswerReply:
        """``reply``, with the hint added when it found nothing because the tenant has no documents but the
        default tenant has."""
        if reply.outcome != "abstained" or reply.sources:
            return reply
        hint = await self.problem(platform=event.platform, tenant=event.tenant)
        return reply if hint is None else reply.model_copy(update={"text": f"{reply.text}\n\n{hint}"})

    async def problem(self, *, platform: str, tenant: str) -> str | None:
        """The hint, when ``tenant`` has no documents and the default tenant has (``threadwise doctor`` too)."""
        if tenant == self.default_tenant or await self._has_documents(tenant):
            return None
        if not await self._has_documents(self.default_tenant):
            return None
        return first_run_hint(platform=platform, tenant=tenant, default_tenant=self.default_tenant)

    async def _has_documents(self, tenant: str) -> bool:
        if (known := self._known.get(tenant)) is not None:
            return known
        async with session_scope(self.sessionmaker) as session:
            found = any(collection.chunk_count for collection in await list_collections(session, tenant=tenant))
        self._known.put(tenant, found)
        return found
