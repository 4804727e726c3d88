"""Discord's REST API as the history source reads it, through discord.py's HTTP client.

discord.py keeps Discord's rate-limit buckets (it waits before a bucket runs dry rather than after a 429) and, on a
429, waits the ``retry_after`` of Discord's JSON body; a wait longer than :data:`MAX_RATE_LIMIT_WAIT` is not waited
but fails the run, whose next attempt carries on. Every other failure becomes a ``ConnectorError`` saying what to
do, as the source's last error: never the token, never a traceback.

The endpoints follow ``DISCORD_API_URL`` (``apply_endpoints``), as the gateway's and the worker's clients do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

import aiohttp
import discord
from discord.http import HTTPClient, Route

from bot.discord.endpoints import apply_endpoints
from core.settings import DiscordSettings
from knowledge.sources.protocol import ConnectorError

MAX_RATE_LIMIT_WAIT = 30.0
"""The longest a rate limit may make a sync wait (seconds; discord.py accepts no bound below 30)."""
PAGE = 100
"""Messages and archived threads asked for at a time: the most Discord gives."""

# Application flags (GET /applications/@me): the Message Content intent, granted to a verified application
# (``GATEWAY_MESSAGE_CONTENT``) or switched on for one in fewer than 100 servers (``…_LIMITED``).
GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
# Permission bits.
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10

INTENT_MISSING = (
    'Discord hides the text of messages from this bot: turn on "Message Content Intent" in the Discord Developer '
    "Portal (your application → Bot → Privileged Gateway Intents; a bot in 100 or more servers must be verified "
    "and approved for it), then sync again"
)


def reads_message_content(application_flags: int) -> bool:
    """Whether Discord shows this application the text of messages (the Message Content intent)."""
    return bool(application_flags & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED))


def everyone_can_view(channel: Mapping[str, Any], everyone_permissions: int) -> bool:
    """Whether the @everyone role (whose id is the server's) may view ``channel``: its base permissions, then the
    channel's overwrite for it (deny, then allow), as Discord computes them. A forum post's thread inherits this."""
    if everyone_permissions & ADMINISTRATOR:
        return True
    permissions = everyone_permissions
    for overwrite in channel.get("permission_overwrites") or []:
        if str(overwrite.get("id")) == str(channel.get("guild_id")):
            permissions &= ~int(overwrite.get("deny") or 0)
            permissions |= int(overwrite.get("allow") or 0)
    return bool(permissions & VIEW_CHANNEL)


class DiscordRest:
    """The few reads the history source makes, each failure said for people."""

    def __init__(self, http: HTTPClient) -> None:
        self.http = http
        """Logged in: the gateway bot's own (``bot.http``) or one opened by :meth:`login`."""

    @classmethod
    async def login(cls, settings: DiscordSettings) -> DiscordRest:
        """A client of its own with ``DISCORD_BOT_TOKEN`` (checked by Discord); close it with :meth:`aclose`."""
        if settings.bot_token is None:
            raise ConnectorError("DISCORD_BOT_TOKEN is not set in the process that syncs this source")
        apply_endpoints(settings)
        http = HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT)
        rest = cls(http)
        try:
            await rest._call("signing in", http.static_login(settings.bot_token.get_secret_value()))
        except BaseException:
            await http.close()
            raise
        return rest

    async def aclose(self) -> None:
        await self.http.close()

    async def application_flags(self) -> int:
        application = await self._call(
            "reading the application's settings", self.http.request(Route("GET", "/applications/@me"))
        )
        return int(application.get("flags") or 0)

    async def channel(self, channel_id: int) -> dict[str, Any]:
        found: dict[str, Any] = await self._call(f"reading channel {channel_id}", self.http.get_channel(channel_id))
        return found

    async def everyone_permissions(self, guild_id: int) -> int:
        """The base permissions of the server's @everyone role (the role whose id is the server's)."""
        roles = await self._call(f"reading the roles of server {guild_id}", self.http.get_roles(guild_id))
        everyone = next((role for role in roles if str(role.get("id")) == str(guild_id)), None)
        return int(everyone["permissions"]) if everyone else 0

    async def active_threads(self, guild_id: int) -> list[dict[str, Any]]:
        """The server's threads that are not archived (every channel's)."""
        found = await self._call(
            f"listing the active threads of server {guild_id}", self.http.get_active_threads(guild_id)
        )
        return list(found.get("threads") or [])

    async def archived_threads(self, channel_id: int, *, before: str | None) -> tuple[list[dict[str, Any]], bool]:
        """One page of the channel's archived public threads, the most recently archived first, archived before
        ``before`` (an ISO 8601 time); and whether there are more."""
        found = await self._call(
            f"listing the archived threads of channel {channel_id}",
            self.http.get_public_archived_threads(channel_id, before=before, limit=PAGE),
        )
        return list(found.get("threads") or []), bool(found.get("has_more"))

    async def messages_after(self, thread_id: int, after: int, *, limit: int = PAGE) -> list[dict[str, Any]] | None:
        """Up to ``limit`` messages of the thread following message ``after`` (0: from the start), oldest first;
        None when the thread is gone."""
        try:
            page = await self._call(
                f"reading the messages of thread {thread_id}", self.http.logs_from(thread_id, limit, after=after)
            )
        except Missing:
            return None
        return sorted(page, key=lambda message: int(message["id"]))

    async def _call(self, what: str, request: Awaitable[Any]) -> Any:
        """The JSON ``request`` answers (read as Discord documents it: discord.py's payload types add nothing)."""
        try:
            return await request
        except discord.NotFound as error:
            raise Missing(f"Discord found nothing when {what} (HTTP 404: {_first_line(error.text)})") from None
        except discord.LoginFailure:
            raise ConnectorError("Discord refused DISCORD_BOT_TOKEN (HTTP 401): set the bot's current token") from None
        except discord.Forbidden as error:
            raise ConnectorError(
                f"Discord refused {what} (HTTP 403: {_first_line(error.text)}): the bot needs View Channel and "
                "Read Message History in that channel"
            ) from None
        except discord.RateLimited as error:
            raise ConnectorError(
                f"Discord asked to wait {error.retry_after:.0f} s before {what} (rate limit), longer than a sync "
                f"waits ({MAX_RATE_LIMIT_WAIT:.0f} s); the next run carries on"
            ) from None
        except discord.HTTPException as error:
            raise ConnectorError(
                f"Discord answered HTTP {error.status} when {what} ({_first_line(error.text) or 'no reason given'})"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise ConnectorError(f"cannot reach Discord when {what} ({type(error).__name__})") from None


class Missing(ConnectorError):
    """A 404: news to a caller that expects it (a thread deleted since the listing), an error to the others."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""
