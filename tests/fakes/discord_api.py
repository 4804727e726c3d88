"""A fake of Discord on 127.0.0.1 for the real discord.py: REST under ``/api/v10`` and the gateway websocket.

It runs in the test's event loop (aiohttp). REST calls are recorded and answered as Discord would (JSON with the
content type exactly ``application/json``: discord.py parses nothing else); the next calls of a route can be made
to fail (a 429 with ``retry_after`` and a ``Via`` header, a 404 with Discord's error code). The gateway says HELLO,
answers IDENTIFY with READY (``resume_gateway_url`` pointing back here) and one GUILD_CREATE, acknowledges
heartbeats, and dispatches whatever a test sends (INTERACTION_CREATE, MESSAGE_CREATE, MESSAGE_REACTION_ADD…).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord.gateway
import discord.http
from aiohttp import WSMsgType, web

BOT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.fake.discord-test-bot-token"
APPLICATION_ID = 1100000000000000001
BOT_USER_ID = APPLICATION_ID  # a bot user has its application's id
CHANNEL_ID = 1300000000000000001
THREAD_ID = 1300000000000000002
ALICE = 1400000000000000001
ADMIN = 1400000000000000002
OTHER_BOT = 1400000000000000003
MANAGE_GUILD = 1 << 5
EXPIRED_INTERACTION = {"message": "Unknown interaction", "code": 10062}
RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 0.3, "global": False}

_snowflakes = itertools.count(int(time.time() * 1000 - 1420070400000) << 22)


def snowflake() -> int:
    """A fresh id that sorts after every earlier one (Discord's ids hold their creation time)."""
    return next(_snowflakes)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": None, "avatar": None, "bot": bot}


BOT_USER = user(BOT_USER_ID, "Threadwise", bot=True)


def member(user_id: int, name: str, *, permissions: int = 0, bot: bool = False) -> dict[str, Any]:
    return {
        "user": user(user_id, name, bot=bot),
        "roles": [],
        "joined_at": _now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": str(permissions),
    }


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    """Below ``/api/v10``, e.g. ``/channels/123/messages``."""
    body: Any
    status: int
    response: Any


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeDiscord:
    guild_id: int = field(default_factory=snowflake)
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    identify_payloads: list[dict[str, Any]] = field(default_factory=list)
    resume_payloads: list[dict[str, Any]] = field(default_factory=list)
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    _failures: list[_Failure] = field(default_factory=list)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _sequence: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/gateway"

    # --- what tests arrange ----------------------------------------------------------------------------------

    def fail(self, method: str, path_pattern: str, *, status: int = 429, body: dict[str, Any] | None = None) -> None:
        """The next call whose path matches ``path_pattern`` (a regex) fails with ``status``.

        A 429 is Discord's: ``retry_after`` in the body and a ``Via`` header (without it discord.py takes the 429 for
        a Cloudflare ban and gives up).
        """
        headers: dict[str, str] = {}
        if status == 429:
            body = body or RATE_LIMITED
            headers = {"Via": "1.1 google", "Retry-After": "1", "X-RateLimit-Scope": "user"}
        failure = _Failure(method, re.compile(path_pattern), status, body or {"message": "error", "code": 0}, headers)
        self._failures.append(failure)

    def calls_to(self, method: str, path_pattern: str) -> list[Call]:
        pattern = re.compile(path_pattern)
        return [c for c in self.calls if c.method == method and pattern.fullmatch(c.path)]

    async def wait_for(self, method: str, path_pattern: str, count: int = 1, within: float = 30.0) -> list[Call]:
        def enough() -> bool:
            return len(self.calls_to(method, path_pattern)) >= count

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(enough), timeout=within)
        except TimeoutError:
            seen = [(c.method, c.path, c.status) for c in self.calls]
            raise AssertionError(f"expected {count} {method} {path_pattern}; calls: {seen}") from None
        return self.calls_to(method, path_pattern)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to every identified connection."""
        await asyncio.wait_for(self.identified.wait(), timeout=15)
        for socket in list(self._sockets):
            await socket.send_str(json.dumps({"op": 0, "t": event, "s": next(self._sequence), "d": data}))

    async def reconnect(self) -> None:
        """Ask every connection to reconnect (op 7), as Discord does before moving a session; it should RESUME."""
        self.resumed.clear()
        for socket in list(self._sockets):
            await socket.send_str(json.dumps({"op": 7, "d": None, "s": None, "t": None}))

    # --- payloads of events ----------------------------------------------------------------------------------

    def channel(self, channel_id: int = CHANNEL_ID) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }

    def thread(self) -> dict[str, Any]:
        return {
            "id": str(THREAD_ID),
            "type": 11,
            "guild_id": str(self.guild_id),
            "parent_id": str(CHANNEL_ID),
            "name": "a question",
            "owner_id": str(ALICE),
            "message_count": 1,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _now(),
                "locked": False,
            },
        }

    def guild(self) -> dict[str, Any]:
        everyone = {
            "id": str(self.guild_id),
            "name": "@everyone",
            "permissions": "0",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(self.guild_id),
            "name": "Acme",
            "icon": None,
            "owner_id": str(ADMIN),
            "roles": [everyone],
            "channels": [self.channel()],
            "threads": [self.thread()],
            "members": [member(BOT_USER_ID, "Threadwise", bot=True)],
            "member_count": 3,
            "unavailable": False,
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "joined_at": _now(),
        }

    def message(
        self,
        content: str,
        *,
        author: int = ALICE,
        bot: bool = False,
        channel_id: int = CHANNEL_ID,
        mentions_bot: bool = True,
        direct: bool = False,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE payload; ``mentions_bot`` puts ``<@bot>`` in front and the bot in ``mentions``."""
        payload: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(channel_id),
            "author": user(author, "alice" if author == ALICE else f"user{author}", bot=bot),
            "content": f"<@{BOT_USER_ID}> {content}" if mentions_bot else content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [BOT_USER] if mentions_bot else [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 19 if reply_to else 0,
            "flags": 0,
        }
        if not direct:
            payload["guild_id"] = str(self.guild_id)
            payload["member"] = {k: v for k, v in member(author, "alice", bot=bot).items() if k != "user"}
        if reply_to is not None:
            payload["message_reference"] = {"type": 0, "message_id": str(reply_to), "channel_id": str(channel_id)}
        return payload

    def interaction(
        self,
        name: str,
        options: list[dict[str, Any]],
        *,
        user_id: int = ALICE,
        permissions: int = 0,
        channel_id: int = CHANNEL_ID,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for the slash command ``name`` (options as Discord nests them)."""
        return {
            "id": str(snowflake()),
            "application_id": str(APPLICATION_ID),
            "type": 2,
            "data": {"id": str(snowflake()), "name": name, "type": 1, "options": options},
            "guild_id": str(self.guild_id),
            "channel_id": str(channel_id),
            "channel": self.channel(channel_id),
            "member": member(user_id, "alice" if user_id == ALICE else f"user{user_id}", permissions=permissions),
            "token": f"interaction-token-{snowflake()}",
            "version": 1,
            "app_permissions": str((1 << 50) - 1),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 26214400,
        }

    def reaction(self, message_id: str, emoji: str, *, user_id: int, author_id: int | None) -> dict[str, Any]:
        """A MESSAGE_REACTION_ADD payload (REMOVE: pass ``author_id=None``; it has no author or member)."""
        payload: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(CHANNEL_ID),
            "message_id": message_id,
            "guild_id": str(self.guild_id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if author_id is not None:
            payload["message_author_id"] = str(author_id)
            payload["member"] = member(user_id, f"user{user_id}")
        return payload

    # --- REST ------------------------------------------------------------------------------------------------

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.pattern.fullmatch(path):
                self._failures.remove(failure)  # each failure happens once
                return failure
        return None

    def _message_payload(self, channel_id: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "id": str(snowflake()),
            "channel_id": channel_id,
            "author": BOT_USER,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 19 if body.get("message_reference") else 0,
            "flags": int(body.get("flags") or 0),
        } | extra

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/users/@me":
            return 200, BOT_USER
        if method == "GET" and path == "/oauth2/applications/@me":
            return 200, {
                "id": str(APPLICATION_ID),
                "name": "Threadwise",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user(ADMIN, "owner"),
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
            }
        if method == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            registered = [
                {"type": 1, "options": [], "default_member_permissions": None, "nsfw": False}
                | command
                | {"id": str(snowflake()), "application_id": str(APPLICATION_ID), "version": "1"}
                for command in body
            ]
            return 200, registered
        if method == "POST" and (found := re.fullmatch(r"/interactions/(\d+)/[^/]+/callback", path)):
            flags = int((body.get("data") or {}).get("flags") or 0)
            interaction = {
                "id": found.group(1),
                "type": 2,
                "response_message_loading": body.get("type") == 5,
                "response_message_ephemeral": bool(flags & 64),
            }
            return 200, {"interaction": interaction, "resource": {"type": body.get("type")}}
        if method == "POST" and (found := re.fullmatch(r"/webhooks/(\d+)/[^/]+", path)):
            return 200, self._message_payload(str(CHANNEL_ID), body, webhook_id=found.group(1))
        if method == "POST" and (found := re.fullmatch(r"/channels/(\d+)/messages", path)):
            return 200, self._message_payload(found.group(1), body)
        if method == "PUT" and re.fullmatch(r"/channels/\d+/messages/\d+/reactions/.+", path):
            return 204, None
        if method == "GET" and (found := re.fullmatch(r"/guilds/\d+/members/(\d+)", path)):
            return 200, member(int(found.group(1)), f"user{found.group(1)}")  # ADMIN owns the server
        return 404, {"message": "404: Not Found", "code": 0}

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body: Any = json.loads(raw) if raw and request.content_type == "application/json" else None
        failure = self._take_failure(request.method, path)
        if failure is not None:
            status, response, headers = failure.status, failure.body, failure.headers
        else:
            status, response = self._answer(request.method, path, body)
            headers = {}
        async with self._changed:
            self.calls.append(Call(request.method, path, body, status, response))
            self._changed.notify_all()
        if status == 204:
            return web.Response(status=204, headers=headers)
        # Exactly "application/json": discord.py does not parse "application/json; charset=utf-8".
        return web.Response(
            status=status, body=json.dumps(response).encode(), headers={"Content-Type": "application/json"} | headers
        )

    # --- gateway ---------------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if message["op"] == 1:
                    await socket.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif message["op"] == 2:
                    await self._identify(socket, message["d"])
                elif message["op"] == 6:
                    self.resume_payloads.append(message["d"])
                    await socket.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": next(self._sequence), "d": {}}))
                    self._sockets.append(socket)
                    self.resumed.set()
        finally:
            if socket in self._sockets:
                self._sockets.remove(socket)
        return socket

    async def _identify(self, socket: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        self.identify_payloads.append(identify)
        ready = {
            "v": 10,
            "user": BOT_USER,
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": f"session-{snowflake()}",
            "resume_gateway_url": self.gateway_url,
            "shard": identify.get("shard", [0, 1]),
            "application": {"id": str(APPLICATION_ID), "flags": 0},
        }
        await socket.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._sequence), "d": ready}))
        await socket.send_str(json.dumps({"op": 0, "t": "GUILD_CREATE", "s": next(self._sequence), "d": self.guild()}))
        self._sockets.append(socket)
        self.identified.set()


@asynccontextmanager
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A running fake; discord.py's endpoints are restored afterwards (settings patch them process-wide)."""
    fake = FakeDiscord()
    app = web.Application()
    app.router.add_get("/gateway", fake._gateway)
    app.router.add_route("*", "/api/v10/{tail:.*}", fake._rest)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        yield fake
    finally:
        for socket in list(fake._sockets):
            await socket.close()
        await runner.cleanup()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


def ask_option(question: str) -> list[dict[str, Any]]:
    return [{"name": "question", "type": 3, "value": question}]


def subcommand(name: str, **values: str) -> list[dict[str, Any]]:
    """Options of ``/threadwise <name> key:value…``."""
    return [{"name": name, "type": 1, "options": [{"name": k, "type": 3, "value": v} for k, v in values.items()]}]
