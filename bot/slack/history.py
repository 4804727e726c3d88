"""The ``slack`` source kind: a channel's threads with replies, as documents the bot can quote.

Teams answer each other's questions in threads; a channel opted in (``/threadwise learn on``) is synced like any
source (``knowledge.sources``): each thread started in the last ``days`` days with someone's reply is one item
(key: the thread's ts; link: its permalink, made from the workspace's address as ``chat.getPermalink`` makes it, so
that listing costs no call per thread), and one document (``bot.slack.history_text``).

What a sync costs Slack: ``auth.test`` (who the bot is, the workspace's address for permalinks),
``conversations.info`` (private or public, and whether the bot is in it) and ``conversations.history`` by pages of
200. A thread's version is its reply count and latest reply (and the question's last edit), all in the listing: an
unchanged thread is never fetched. A changed one costs ``conversations.replies`` (paginated). A reply edited in
place changes none of these: it is picked up with the thread's next reply.

Who may be shown it: a public channel's threads the whole workspace (``tenant``), a private channel's only that
channel (``slack:C…``); the engine fails a run rather than write a thread into a collection of another audience.

The token is the deployment's bot token (``SLACK_BOT_TOKEN``) or, with many workspaces (OAuth installs), the bot
token of the workspace the source names (``/threadwise learn on`` stores it): the bot reads only channels it was
invited to.
Rate limits and Slack's errors are ``bot.slack.history_api``'s concern.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.slack.history_api import MAX_RETRY_AFTER, SlackReader, ThreadGone
from bot.slack.history_text import SKIPPED_SUBTYPES, headline, mrkdwn_to_markdown, thread_document
from core.logging import get_logger
from core.settings import SlackSettings
from knowledge.audience import TENANT_WIDE, channel_audience
from knowledge.sources.connectors import ConnectorKind, RunContext
from knowledge.sources.http import Sleep
from knowledge.sources.protocol import ConnectorError, Fetched, Gone, ItemRef, NotModified

log = get_logger(__name__)

KIND = "slack"
MAX_DAYS = 730
"""However a source is set, a sync walks at most two years back."""
PUBLIC_COLLECTION = "slack-history"
"""Where public channels' threads go; a private channel's go to ``slack-history-<channel id>``."""


def source_name(channel: str) -> str:
    """The one source of a channel, as ``/threadwise learn`` and ``threadwise sources add slack`` name it."""
    return f"slack-{channel}"


def collection_for(channel: str, *, private: bool) -> tuple[str, str]:
    """The collection a channel's threads go to, and who may be shown it."""
    if private:
        return f"{PUBLIC_COLLECTION}-{channel}", channel_audience("slack", channel)
    return PUBLIC_COLLECTION, TENANT_WIDE


class SlackHistorySettings(BaseModel):
    """A Slack channel source's settings, as stored on the source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str = Field(pattern=r"^[CG][A-Z0-9]{2,30}$")
    """The channel's id (``C…``; ``G…`` for an older private channel), as ``/threadwise learn on`` stores it."""
    days: int = Field(default=365, ge=1, le=MAX_DAYS)
    """Threads started this many days back at most; older ones are pruned as they age out."""
    max_threads: int = Field(default=2000, ge=1, le=20_000)
    """The newest threads kept, at most."""
    max_messages: int = Field(default=500, ge=2, le=5000)
    """A thread's messages read at most (its question and the first replies)."""
    team: str | None = Field(default=None, pattern=r"^T[A-Z0-9]{2,30}$")
    """The workspace whose install reads the channel, with many workspaces (OAuth installs)."""
    enterprise: str | None = Field(default=None, pattern=r"^E[A-Z0-9]{2,30}$")
    """The organisation, when its install (org-wide, on Enterprise Grid) serves that workspace."""


class WorkspaceTokens(Protocol):
    """The bot token of the install serving a workspace; None when Threadwise is not installed there."""

    async def __call__(self, *, team_id: str, enterprise_id: str | None) -> str | None: ...


@dataclass(frozen=True, slots=True)
class _Bot:
    """Who Threadwise is in the workspace (``auth.test``), so that its own messages are not learnt."""

    user_id: str
    bot_id: str | None
    workspace_url: str


@dataclass(frozen=True, slots=True)
class _Channel:
    name: str
    audience: str


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What Slack says of a channel before it is added as a source (``threadwise sources add slack``)."""

    team: str
    """The workspace's id: its tenant, unless ``SLACK_TENANT`` says otherwise."""
    name: str
    private: bool
    member: bool


async def channel_facts(slack: SlackSettings, channel: str) -> ChannelFacts:
    """The workspace and the channel as the bot sees them; ``ConnectorError`` when Slack will not say."""
    reader = SlackReader(slack, channel=channel)
    try:
        me = await reader.call("auth.test")
        info = (await reader.call("conversations.info", channel=channel)).get("channel") or {}
    finally:
        await reader.aclose()
    return ChannelFacts(
        team=str(me.get("team_id") or ""),
        name=str(info.get("name") or channel),
        private=bool(info.get("is_private")),
        member=bool(info.get("is_member")),
    )


class SlackHistoryConnector:
    """One channel's threads. One instance per sync run (its Slack client is the run's)."""

    kind = KIND

    def __init__(
        self,
        settings: SlackHistorySettings,
        *,
        slack: SlackSettings,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        max_retry_after: float = MAX_RETRY_AFTER,
        tokens: WorkspaceTokens | None = None,
    ) -> None:
        """``slack``: the deployment's Slack settings (the bot token and the API's address). ``sleep`` waits out
        a rate limit; ``clock`` (epoch seconds) says which threads have aged out. Tests inject both. ``tokens``:
        the installs' tokens, with many workspaces."""
        self.settings = settings
        self._tokens = tokens
        token = None if tokens is None else self._workspace_token
        self._slack = SlackReader(slack, channel=settings.channel, sleep=sleep, max_wait=max_retry_after, token=token)
        self._clock = clock
        self._bot: _Bot | None = None
        self._channel: _Channel | None = None

    async def aclose(self) -> None:
        await self._slack.aclose()

    async def _workspace_token(self) -> str:
        team = self.settings.team
        if self._tokens is None or team is None:
            raise ConnectorError(
                "this Slack source names no workspace, and this deployment serves many (OAuth installs): remove it, "
                "then add it again with `/threadwise learn on` in the channel"
            )
        token = await self._tokens(team_id=team, enterprise_id=self.settings.enterprise)
        if token is None:
            raise ConnectorError(f"Threadwise is not installed in Slack workspace {team} any more: install it again")
        return token

    async def items(self) -> AsyncIterator[ItemRef]:
        bot = self._bot = await self._who_am_i()
        channel = self._channel = await self._channel_info()
        oldest = self._clock() - self.settings.days * 86_400
        listed = 0
        async for page in self._slack.pages(
            "conversations.history", channel=self.settings.channel, oldest=f"{oldest:.6f}"
        ):
            for message in page.get("messages") or []:
                if not _worth_learning(message, bot):
                    continue
                if listed >= self.settings.max_threads:
                    log.warning("slack_thread_cap_reached", channel=self.settings.channel, threads=listed)
                    return
                listed += 1
                yield self._item(message, bot, channel)
        log.info("slack_threads_listed", channel=self.settings.channel, threads=listed)

    async def fetch(self, item: ItemRef, known_version: str | None) -> Fetched | NotModified | Gone:
        bot, channel = self._bot, self._channel
        if bot is None or channel is None:  # the engine always lists first
            raise ConnectorError("a Slack thread was fetched before its channel was listed")
        try:
            messages = await self._thread(item.key)
        except ThreadGone:
            return Gone()
        document = thread_document(
            messages,
            url=item.url,
            channel=self.settings.channel,
            channel_name=channel.name,
            bot_user=bot.user_id,
            bot_id=bot.bot_id,
        )
        if document is None:  # the question was deleted, or only Threadwise replied: nothing to learn
            return Gone()
        return Fetched(document, item.version or _version(messages[0]))

    async def _who_am_i(self) -> _Bot:
        found = await self._slack.call("auth.test")
        url = str(found.get("url") or "")
        if not url.startswith(("https://", "http://")):
            raise ConnectorError("Slack's auth.test gave no workspace address to link threads to")
        return _Bot(
            user_id=str(found.get("user_id") or ""),
            bot_id=found.get("bot_id"),
            workspace_url=url if url.endswith("/") else f"{url}/",
        )

    async def _channel_info(self) -> _Channel:
        found = await self._slack.call("conversations.info", channel=self.settings.channel)
        info = found.get("channel") or {}
        name = str(info.get("name") or self.settings.channel)
        if info.get("is_im") or info.get("is_mpim"):
            raise ConnectorError(f"{self.settings.channel} is a direct message: only channels are learnt")
        if not info.get("is_member"):
            raise ConnectorError(
                f"Threadwise is not in #{name} ({self.settings.channel}): invite it with `/invite @Threadwise` in the "
                "channel, then sync again"
            )
        _, audience = collection_for(self.settings.channel, private=bool(info.get("is_private")))
        return _Channel(name=name, audience=audience)

    async def _thread(self, ts: str) -> list[dict[str, Any]]:
        """The thread's messages, its parent first (Slack repeats the parent on every page: kept once)."""
        messages: dict[str, dict[str, Any]] = {}
        async for page in self._slack.pages(
            "conversations.replies", gone_ok=True, channel=self.settings.channel, ts=ts
        ):
            for message in page.get("messages") or []:
                messages.setdefault(str(message.get("ts")), message)
            if len(messages) >= self.settings.max_messages:
                break
        ordered = sorted(messages.values(), key=lambda m: m.get("ts") != ts)  # the parent first, replies in order
        return ordered[: self.settings.max_messages]

    def _item(self, message: dict[str, Any], bot: _Bot, channel: _Channel) -> ItemRef:
        ts = str(message["ts"])
        return ItemRef(
            key=ts,
            url=f"{bot.workspace_url}archives/{self.settings.channel}/p{ts.replace('.', '')}",
            version=_version(message),
            title=headline(mrkdwn_to_markdown(str(message.get("text") or ""), {})),
            audience=channel.audience,
        )


def _worth_learning(message: dict[str, Any], bot: _Bot) -> bool:
    """A thread someone started, that someone other than Threadwise replied to."""
    ts = message.get("ts")
    if not ts or not message.get("reply_count") or message.get("thread_ts", ts) != ts:
        return False
    if message.get("subtype") in SKIPPED_SUBTYPES:  # a deleted question (a tombstone), a join notice
        return False
    if message.get("user") == bot.user_id or (bot.bot_id is not None and message.get("bot_id") == bot.bot_id):
        return False  # Threadwise's own answers are not knowledge
    repliers = set(message.get("reply_users") or [])
    only_the_bot = repliers == {bot.user_id} and int(message.get("reply_users_count") or 1) <= 1
    return not only_the_bot


def _version(message: dict[str, Any]) -> str:
    """Changes with a new or deleted reply, and with an edit of the question."""
    edited = (message.get("edited") or {}).get("ts") or ""
    return f"{message.get('reply_count') or 0}:{message.get('latest_reply') or ''}:{edited}"


def slack_history_kind(
    slack: SlackSettings,
    *,
    tokens: WorkspaceTokens | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> ConnectorKind:
    """The ``slack`` kind for a deployment with these Slack settings (``bot.source_kinds.history_kinds``);
    ``tokens`` with many workspaces (OAuth installs)."""

    def build(settings: SlackHistorySettings, context: RunContext) -> SlackHistoryConnector:
        return SlackHistoryConnector(settings, slack=slack, sleep=sleep, clock=clock, tokens=tokens)

    return ConnectorKind(kind=KIND, settings=SlackHistorySettings, build=build)
