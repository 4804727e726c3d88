"""What the Slack listeners need, injected when the app is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agent.feedback import FeedbackStore
from agent.verified import VerifiedAnswers
from bot.channels import ChannelSettingsStore
from bot.events import EventSink
from bot.follow_ups import AnsweredThreads

if TYPE_CHECKING:
    from knowledge.sources.service import Sources

POSITIVE_REACTIONS = frozenset({"+1", "thumbsup", "white_check_mark", "heavy_check_mark"})
VERIFY_REACTIONS = frozenset({"white_check_mark", "heavy_check_mark"})
"""✅ by a workspace admin also saves the answer as a verified answer (by anyone else: a 👍)."""
NEGATIVE_REACTIONS = frozenset({"-1", "thumbsdown"})


class ChannelForgetter(Protocol):
    async def __call__(self, *, tenant: str, platform: str, channel: str) -> int: ...


class AnswerStops(Protocol):
    async def request_stop(self, *, platform: str, event_id: str) -> bool: ...


class MostAsked(Protocol):
    async def __call__(self, *, tenant: str, platform: str, channel: str | None, limit: int) -> list[str]: ...


@dataclass(frozen=True)
class SlackDeps:
    queue: EventSink
    feedback: FeedbackStore
    channels: ChannelSettingsStore
    threads: AnsweredThreads
    """The threads the bot answered in, where follow-ups need no mention."""
    forget_channel: ChannelForgetter
    admins: frozenset[str] = frozenset()
    positive: frozenset[str] = POSITIVE_REACTIONS
    negative: frozenset[str] = NEGATIVE_REACTIONS
    tenant: str | None = None
    """Overrides the workspace's team id as the tenant (SLACK_TENANT)."""
    verified: VerifiedAnswers | None = None
    verify: frozenset[str] = VERIFY_REACTIONS
    sources: Sources | None = None
    """The synced sources, for ``/threadwise learn`` (None: the command says it is not available)."""
    stops: AnswerStops | None = None
    """Where a Stop button's click is recorded for the worker (None: the button does nothing)."""
    most_asked: MostAsked | None = None
    """A channel's most-asked questions, offered as prompts in the assistant container (None: none offered)."""

    def tenant_of(self, body: dict[str, Any]) -> str:
        """The workspace: ``team_id`` in event envelopes and slash commands, ``team.id`` in interactive payloads
        (a button click)."""
        team = body.get("team")
        team_id = body.get("team_id") or (team.get("id") if isinstance(team, dict) else None)
        return self.tenant or team_id or "slack"
