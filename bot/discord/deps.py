"""What the Discord cogs need, injected when the bot is built, and the conversation key of a message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agent.feedback import FeedbackStore
from agent.schemas import ConversationKey
from agent.verified import VerifiedAnswers
from bot.channels import ChannelSettingsStore
from bot.events import EventSink
from bot.follow_ups import AnsweredThreads

if TYPE_CHECKING:
    from knowledge.sources.service import Sources

# Unicode emoji as the gateway sends them; skin tones are stripped before the lookup.
POSITIVE_REACTIONS = frozenset({"👍", "✅", "☑️", "✔️"})
NEGATIVE_REACTIONS = frozenset({"👎"})
VERIFY_REACTIONS = frozenset({"✅", "☑️", "✔️"})
"""By a member who may manage the server, also saves the answer as a verified answer (by anyone else: a 👍)."""


class Conversations(Protocol):
    """What ``/forget`` asks of the agent (``AgentService``): each call one unit of work."""

    async def forget(self, conversation: ConversationKey) -> bool: ...

    async def forget_channel(self, *, tenant: str, platform: str, channel: str) -> int: ...


@dataclass(frozen=True)
class DiscordDeps:
    queue: EventSink
    feedback: FeedbackStore
    channels: ChannelSettingsStore
    threads: AnsweredThreads
    """The threads the bot answered in, where follow-ups need no mention."""
    conversations: Conversations
    tenant: str | None = None
    """Overrides each server's id as the tenant (DISCORD_TENANT)."""
    dm_tenant: str = "local"
    """The tenant of direct messages, which belong to no server (DISCORD_DM_TENANT)."""
    positive: frozenset[str] = POSITIVE_REACTIONS
    negative: frozenset[str] = NEGATIVE_REACTIONS
    verified: VerifiedAnswers | None = None
    verify: frozenset[str] = VERIFY_REACTIONS
    sources: Sources | None = None
    """The synced sources, for ``/learn`` (None: the command says it is not available)."""

    def tenant_of(self, guild_id: int | None) -> str:
        if guild_id is None:
            return self.dm_tenant
        return self.tenant or str(guild_id)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a message lives: the channel its settings belong to, and the thread ('' outside threads)."""

    channel: str
    thread: str = ""
