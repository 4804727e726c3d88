"""First-run help: a fresh install ingests into the ``local`` tenant, while a Slack workspace's tenant is its team
id and a Discord server's its guild id. Until someone reads the docs every question there finds nothing; the bot
says why and how to fix it instead of a bare "I couldn't find that"."""

from __future__ import annotations

import time

from agent.schemas import AnswerReply
from bot.access.principal import DEFAULT_TENANT
from bot.events import ChatEvent
from knowledge.service import KnowledgeBase

CHECK_EVERY_SECONDS = 60.0
"""How long a tenant's having documents is remembered: refusals are common, ingesting is rare."""


def first_run_hint(*, platform: str, tenant: str) -> str:
    return (
        f"This {'workspace' if platform == 'slack' else 'server'} has no documents yet (its tenant is `{tenant}`), "
        f"while the default tenant `{DEFAULT_TENANT}` has some. Either ingest documents for it "
        f"(`threadwise ingest PATH --tenant {tenant}`) or answer from `{DEFAULT_TENANT}` "
        f"(set `{platform.upper()}_TENANT={DEFAULT_TENANT}` and restart)."
    )


class FirstRunHelp:
    def __init__(self, knowledge: KnowledgeBase) -> None:
        self.knowledge = knowledge
        self._known: dict[str, tuple[float, bool]] = {}

    async def explain(self, event: ChatEvent, reply: AnswerReply) -> AnswerReply:
        """``reply``, with the hint added when it found nothing because the tenant has no documents but
        ``local`` has."""
        if reply.outcome != "abstained" or reply.sources or event.tenant == DEFAULT_TENANT:
            return reply
        if await self._has_documents(event.tenant) or not await self._has_documents(DEFAULT_TENANT):
            return reply
        hint = first_run_hint(platform=event.platform, tenant=event.tenant)
        return reply.model_copy(update={"text": f"{reply.text}\n\n{hint}"})

    async def _has_documents(self, tenant: str) -> bool:
        known = self._known.get(tenant)
        if known is not None and time.monotonic() - known[0] < CHECK_EVERY_SECONDS:
            return known[1]
        found = any(collection.chunk_count for collection in await self.knowledge.collections(tenant=tenant))
        if len(self._known) > 10_000:  # bounded, like the channel settings' cache
            self._known.clear()
        self._known[tenant] = (time.monotonic(), found)
        return found
