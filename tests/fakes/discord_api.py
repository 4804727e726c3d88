"""A fake of Discord on 127.0.0.1 for the real discord.py: REST under ``/api/v10`` and the gateway websocket.

It runs in the test's event loop (aiohttp). REST calls are recorded and answered as Discord would (JSON with the
content type exactly ``application/json``: discord.py parses nothing else); the next calls of a route can be made
to fail (a 429 with ``retry_after`` and a ``Via`` header, a 404 with Discord's error code); a bot token other than
``BOT_TOKEN`` gets a 401. The gateway says HELLO, answers IDENTIFY with READY (``resume_gateway_url`` pointing back
here) and one GUILD_CREATE, acknowledges heartbeats, and dispatches whatever a test sends (INTERACTION_CREATE,
MESSAGE_CREATE, MESSAGE_REACTION_ADD…). As Discord does, a MESSAGE_CREATE reaches a bot that did not ask for the
Message Content intent (``MESSAGE_CONTENT_INTENT`` in its IDENTIFY) without its text, unless it mentions the bot, is
a direct message or is the bot's own. (Discord would close the connection with 4014 when the intent is asked for
and the application's flags do not allow it; this fake does not.)

Messages sent and posted are remembered: a reply (``message(reply_to=…)``, or the bot's reply to a question) carries
``message_reference`` and, one level deep, ``referenced_message``; ``GET /channels/{id}/messages/{id}`` serves them;
a followup on an interaction's webhook carries the ``interaction_metadata`` of that interaction.

The server also has a forum (``FORUM_ID``, with the tags ``forum_tag`` adds to its ``available_tags``) whose posts
tests write (``post``, with ``applied_tags``; ``reply``, ``edit``, ``archive``, ``delete_thread``). ``publish`` sends a
post as a member creating it does: THREAD_CREATE (``newly_created``), then the first message, whose id is the thread's,
as MESSAGE_CREATE in the thread. Posts are read back as Discord serves them: the active threads of the server, the
archived public threads of a channel (most recently archived first, paged with ``before`` and ``has_more``), a
thread's messages (paged with ``before``/``after``, newest first), the application's flags, the channel and the
server's roles. Without the Message Content intent in ``application_flags`` (or with ``content_visible=False``)
messages come back emptied, as Discord sends them to such a bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord.gateway
import discord.http
from aiohttp import WSMsgType, web
from discord.utils import DISCORD_EPOCH

BOT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.fake.discord-test-bot-token"
APPLICATION_ID = 1100000000000000001
BOT_USER_ID = APPLICATION_ID  # a bot user has its application's id
CHANNEL_ID = 1300000000000000001
THREAD_ID = 1300000000000000002
FORUM_ID = 1300000000000000003
ALICE = 1400000000000000001
ADMIN = 1400000000000000002
OTHER_BOT = 1400000000000000003
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
MESSAGE_CONTENT = 1 << 18
"""The application flag of a verified bot approved for the Message Content intent."""
MESSAGE_CONTENT_LIMITED = 1 << 19
"""The application flag of a bot in fewer than 100 servers with "Message Content Intent" switched on."""
MESSAGE_CONTENT_INTENT = 1 << 15
"""The gateway intent (in IDENTIFY) that shows a bot the text of messages that do not mention it."""
EXPIRED_INTERACTION = {"message": "Unknown interaction", "code": 10062}
RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 0.3, "global": False}

_snowflakes = itertools.count(int(time.time() * 1000 - 1420070400000) << 22)
_increments = itertools.count()


def snowflake() -> int:
    """A fresh id that sorts after every earlier one (Discord's ids hold their creation time)."""
    return next(_snowflakes)


def snowflake_at(when: datetime) -> int:
    """An id created at ``when`` (for messages of the past), unique in this process."""
    return (int(when.timestamp() * 1000) - DISCORD_EPOCH) << 22 | next(_increments) % 4096


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
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class ForumThread:
    """A thread (a forum post) and its messages, as full payloads; what the bot is shown is decided when read."""

    id: int
    parent_id: int
    name: str
    owner_id: int
    messages: list[dict[str, Any]]
    archived_at: datetime | None = None
    """When it was archived; None: active."""
    type: int = 11
    applied_tags: list[int] = field(default_factory=list)
    """Ids of the forum's tags the poster chose."""


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
    everyone_permissions: int = 0
    """The base permissions of the server's @everyone role."""
    overwrites: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """Channel id → its permission overwrites."""
    application_flags: int = 0
    content_visible: bool | None = None
    """Whether messages come back with their text; None: as ``application_flags`` say."""
    threads: dict[int, ForumThread] = field(default_factory=dict)
    forum_tags: list[dict[str, Any]] = field(default_factory=list)
    """The forum's ``available_tags`` (sent in GUILD_CREATE: add them before the bot connects)."""
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Every message dispatched or posted, by id, as written (before anything is hidden from the bot)."""
    _interactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Dispatched interactions by token: their webhook's followups carry their metadata."""
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
        """Send a gateway event to every identified connection; a message as the bot's intents let it see it."""
        await asyncio.wait_for(self.identified.wait(), timeout=15)
        if event == "MESSAGE_CREATE":
            self.messages[int(data["id"])] = data
            data = self._sent(data)
        elif event == "INTERACTION_CREATE":
            self._interactions[data["token"]] = data
        for socket in list(self._sockets):
            await socket.send_str(json.dumps({"op": 0, "t": event, "s": next(self._sequence), "d": data}))

    def _sent(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as the gateway sends it to this bot: without the Message Content intent, emptied unless it is
        a direct message, the bot's own, or mentions the bot (so does what it replies to)."""
        intents = int(self.identify_payloads[-1].get("intents", 0)) if self.identify_payloads else 0
        if intents & MESSAGE_CONTENT_INTENT or "guild_id" not in message:
            return message
        return self._unless_for_the_bot(message)

    def _unless_for_the_bot(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("referenced_message"):
            message = message | {"referenced_message": self._unless_for_the_bot(message["referenced_message"])}
        own = message["author"]["id"] == str(BOT_USER_ID)
        if own or any(u["id"] == str(BOT_USER_ID) for u in message.get("mentions") or []):
            return message
        return message | {"content": "", "embeds": [], "attachments": [], "components": []}

    def _referenced(self, message_id: int) -> dict[str, Any] | None:
        """``referenced_message`` of a reply to ``message_id``: that message without its own (one level deep), or
        None when there is no such message (deleted)."""
        referenced = self.messages.get(message_id)
        return None if referenced is None else {k: v for k, v in referenced.items() if k != "referenced_message"}

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
            "permission_overwrites": self.overwrites.get(channel_id, []),
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }

    def forum(self) -> dict[str, Any]:
        return self.channel(FORUM_ID) | {
            "type": 15,
            "name": "help",
            "position": 1,
            "available_tags": self.forum_tags,
            "default_reaction_emoji": None,
            "default_sort_order": None,
            "default_forum_layout": 0,
            "flags": 0,
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
            "permissions": str(self.everyone_permissions),
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
            "channels": [self.channel(), self.forum()],
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
        resolved: bool = True,
        mentions: Sequence[int] = (),
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE payload; ``mentions_bot`` puts ``<@bot>`` in front and the bot in ``mentions``, and
        ``mentions`` puts those members after it. A reply (``reply_to``) carries the message it replies to unless
        ``resolved`` is False (Discord may leave ``referenced_message`` out: "not attempted to fetch")."""
        mentioned = [user(member_id, f"user{member_id}") for member_id in mentions]
        text = " ".join([f"<@{u['id']}>" for u in mentioned] + [content])
        payload: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(channel_id),
            "author": user(author, "alice" if author == ALICE else f"user{author}", bot=bot),
            "content": f"<@{BOT_USER_ID}> {text}" if mentions_bot else text,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": ([BOT_USER] if mentions_bot else []) + mentioned,
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
            if resolved:
                payload["referenced_message"] = self._referenced(reply_to)
        return payload

    def interaction(
        self,
        name: str,
        options: list[dict[str, Any]],
        *,
        user_id: int = ALICE,
        permissions: int = 0,
        channel_id: int = CHANNEL_ID,
        resolved: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for the slash command ``name`` (options as Discord nests them; the
        objects they name in ``resolved``)."""
        data: dict[str, Any] = {"id": str(snowflake()), "name": name, "type": 1, "options": options}
        if resolved is not None:
            data["resolved"] = resolved
        return {
            "id": str(snowflake()),
            "application_id": str(APPLICATION_ID),
            "type": 2,
            "data": data,
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

    # --- the forum's posts ----------------------------------------------------------------------------------

    def post(
        self,
        title: str,
        question: str,
        *,
        author: int = ALICE,
        channel_id: int = FORUM_ID,
        at: datetime | None = None,
        archived: bool = False,
        thread_type: int = 11,
        tags: Sequence[int] = (),
        mentions_bot: bool = False,
        bot: bool = False,
    ) -> int:
        """A new post (a thread whose first message has the thread's id) with the forum's ``tags`` applied, its text
        after ``<@bot>`` when it ``mentions_bot``; returns the thread id."""
        thread_id = snowflake_at(at) if at is not None else snowflake()
        if mentions_bot:
            question = f"<@{BOT_USER_ID}> {question}"
        mentions = [BOT_USER] if mentions_bot else None
        starter = self._history_message(thread_id, thread_id, question, author=author, bot=bot, mentions=mentions)
        thread = ForumThread(thread_id, channel_id, title, author, [starter], type=thread_type, applied_tags=[*tags])
        self.threads[thread_id] = thread
        if archived:
            self.archive(thread_id, at=at)
        return thread_id

    def forum_tag(self, name: str, *, moderated: bool = False) -> int:
        """Add a tag to the forum's ``available_tags``; returns its id."""
        tag_id = snowflake()
        tag = {"id": str(tag_id), "name": name, "moderated": moderated, "emoji_id": None, "emoji_name": None}
        self.forum_tags.append(tag)
        return tag_id

    async def publish(self, thread_id: int) -> dict[str, Any]:
        """Dispatch a post as its creation reaches a bot: THREAD_CREATE with ``newly_created``, then its first
        message (MESSAGE_CREATE in the thread, as the intents let the bot see it); returns that message."""
        thread = self.threads[thread_id]
        await self.dispatch("THREAD_CREATE", self.thread_payload(thread) | {"newly_created": True})
        starter = thread.messages[0] | {
            "guild_id": str(self.guild_id),
            "member": {k: v for k, v in member(thread.owner_id, "poster").items() if k != "user"},
        }
        await self.dispatch("MESSAGE_CREATE", starter)
        return starter

    def reply(
        self,
        thread_id: int,
        content: str,
        *,
        author: int = ADMIN,
        bot: bool = False,
        at: datetime | None = None,
        mentions: list[dict[str, Any]] | None = None,
        message_type: int = 0,
        **extra: Any,
    ) -> int:
        """A message in the thread; returns its id."""
        message_id = snowflake_at(at) if at is not None else snowflake()
        message = self._history_message(thread_id, message_id, content, author=author, bot=bot, mentions=mentions)
        message["type"] = message_type
        self.threads[thread_id].messages.append(message | extra)
        return message_id

    def edit(self, thread_id: int, message_id: int, content: str) -> None:
        """Edit a message: the thread's listing does not change (Discord's neither)."""
        for message in self.threads[thread_id].messages:
            if message["id"] == str(message_id):
                message["content"], message["edited_timestamp"] = content, _now()

    def archive(self, thread_id: int, *, at: datetime | None = None) -> None:
        self.threads[thread_id].archived_at = at or datetime.now(UTC)

    def delete_thread(self, thread_id: int) -> None:
        del self.threads[thread_id]

    def thread_payload(self, thread: ForumThread) -> dict[str, Any]:
        """A thread as Discord lists it: its last message id and its count of messages after the first."""
        archived_at = thread.archived_at or datetime.fromtimestamp(((thread.id >> 22) + DISCORD_EPOCH) / 1000, UTC)
        return {
            "id": str(thread.id),
            "type": thread.type,
            "guild_id": str(self.guild_id),
            "parent_id": str(thread.parent_id),
            "owner_id": str(thread.owner_id),
            "name": thread.name,
            "last_message_id": thread.messages[-1]["id"] if thread.messages else None,
            "message_count": max(0, len(thread.messages) - 1),
            "total_message_sent": max(0, len(thread.messages) - 1),
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "applied_tags": [str(tag) for tag in thread.applied_tags],
            "thread_metadata": {
                "archived": thread.archived_at is not None,
                "auto_archive_duration": 1440,
                "archive_timestamp": archived_at.isoformat(),
                "locked": False,
                "create_timestamp": None,
            },
        }

    def _history_message(
        self,
        thread_id: int,
        message_id: int,
        content: str,
        *,
        author: int,
        bot: bool = False,
        mentions: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        name = "alice" if author == ALICE else f"user{author}"
        return {
            "id": str(message_id),
            "channel_id": str(thread_id),
            "author": user(author, name, bot=bot),
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions or [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }

    def _shown(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as this bot is shown it: without the Message Content intent, emptied unless the bot wrote
        it or it mentions the bot."""
        visible = self.content_visible
        if visible is None:
            visible = bool(self.application_flags & (MESSAGE_CONTENT | MESSAGE_CONTENT_LIMITED))
        own = message["author"]["id"] == str(BOT_USER_ID)
        mentioned = any(u["id"] == str(BOT_USER_ID) for u in message.get("mentions") or [])
        if visible or own or mentioned:
            return message
        return message | {"content": "", "embeds": [], "attachments": [], "components": []}

    def _thread_messages(self, thread: ForumThread, query: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /channels/{thread}/messages``: ``limit`` (1–100, default 50) messages, newest first, before or
        after a message id (those right after ``after``; else the latest before ``before``, or the latest)."""
        limit = max(1, min(100, int(query.get("limit", 50))))
        ordered = sorted(thread.messages, key=lambda message: int(message["id"]))
        if "after" in query:
            chosen = [m for m in ordered if int(m["id"]) > int(query["after"])][:limit]
        else:
            before = int(query["before"]) if "before" in query else None
            chosen = [m for m in ordered if before is None or int(m["id"]) < before][-limit:]
        return [self._shown(message) for message in reversed(chosen)]

    def _archived(self, channel_id: int, query: dict[str, str]) -> dict[str, Any]:
        """``GET /channels/{channel}/threads/archived/public``: the most recently archived first, before
        ``before`` (an ISO 8601 time), ``limit`` at a time, and whether there are more."""
        before = datetime.fromisoformat(query["before"]) if "before" in query else None
        limit = int(query.get("limit", 50))
        archived = sorted(
            (
                t
                for t in self.threads.values()
                if t.parent_id == channel_id and t.archived_at is not None and t.type in (10, 11)
                if before is None or t.archived_at < before
            ),
            key=lambda t: t.archived_at or datetime.min,
            reverse=True,
        )
        page = archived[:limit]
        return {"threads": [self.thread_payload(t) for t in page], "members": [], "has_more": len(archived) > limit}

    def _roles(self) -> list[dict[str, Any]]:
        return [r for r in self.guild()["roles"] if r["id"] == str(self.guild_id)]

    def _history_answer(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        """The GET routes the history source reads; None for any other path."""
        unknown = {"message": "Unknown Channel", "code": 10003}
        if path == "/applications/@me":
            return 200, {"id": str(APPLICATION_ID), "name": "Threadwise", "flags": self.application_flags}
        if path == f"/guilds/{self.guild_id}/roles":
            return 200, self._roles()
        if path == f"/guilds/{self.guild_id}/threads/active":
            active = [self.thread_payload(t) for t in self.threads.values() if t.archived_at is None]
            return 200, {"threads": active, "members": []}
        if found := re.fullmatch(r"/channels/(\d+)/threads/archived/public", path):
            return 200, self._archived(int(found.group(1)), query)
        if found := re.fullmatch(r"/channels/(\d+)/messages", path):
            thread = self.threads.get(int(found.group(1)))
            return (200, self._thread_messages(thread, query)) if thread else (404, unknown)
        if found := re.fullmatch(r"/channels/(\d+)", path):
            channel_id = int(found.group(1))
            if channel_id in self.threads:
                return 200, self.thread_payload(self.threads[channel_id])
            channels = {CHANNEL_ID: self.channel, FORUM_ID: self.forum}
            return (200, channels[channel_id]()) if channel_id in channels else (404, unknown)
        return None

    # --- REST ------------------------------------------------------------------------------------------------

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.pattern.fullmatch(path):
                self._failures.remove(failure)  # each failure happens once
                return failure
        return None

    def _message_payload(self, channel_id: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A message the bot posted, remembered; a reply carries what it replies to."""
        payload: dict[str, Any] = {
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
        self.messages[int(payload["id"])] = payload
        if reference := body.get("message_reference"):
            replied = int(reference["message_id"])
            payload["message_reference"] = {"type": 0, "message_id": str(replied), "channel_id": channel_id}
            return payload | {"referenced_message": self._referenced(replied)}
        return payload

    def _followup_payload(self, application_id: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """A followup on an interaction's webhook: posted by the bot, with the metadata of the interaction."""
        metadata = None
        if interaction := self._interactions.get(token):
            metadata = {
                "id": interaction["id"],
                "type": interaction["type"],
                "user": interaction["member"]["user"],
                "authorizing_integration_owners": interaction["authorizing_integration_owners"],
            }
        channel_id = self._interactions[token]["channel_id"] if token in self._interactions else str(CHANNEL_ID)
        extra: dict[str, Any] = {"webhook_id": application_id, "application_id": application_id}
        if metadata is not None:
            extra["interaction_metadata"] = metadata
        return self._message_payload(channel_id, body, **extra)

    def _stored_message(self, channel_id: int, message_id: int) -> tuple[int, Any]:
        """``GET /channels/{channel}/messages/{message}``: as this application is shown it, with what it replies
        to."""
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != str(channel_id):
            return 404, {"message": "Unknown Message", "code": 10008}
        shown = self._shown(message)
        if reference := message.get("message_reference"):
            referenced = self._referenced(int(reference["message_id"]))
            shown = shown | {"referenced_message": referenced and self._shown(referenced)}
        return 200, shown

    def _answer(self, method: str, path: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        if method == "GET" and path == "/users/@me":
            return 200, BOT_USER
        if method == "GET" and (history := self._history_answer(path, query)) is not None:
            return history
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
        if method == "POST" and (found := re.fullmatch(r"/webhooks/(\d+)/([^/]+)", path)):
            return 200, self._followup_payload(found.group(1), found.group(2), body)
        if method == "GET" and (found := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path)):
            return self._stored_message(int(found.group(1)), int(found.group(2)))
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
        query = dict(request.query)
        failure = self._take_failure(request.method, path)
        authorization = request.headers.get("Authorization")
        if authorization is not None and authorization != f"Bot {BOT_TOKEN}":  # webhooks are sent without one
            status, response, headers = 401, {"message": "401: Unauthorized", "code": 0}, {}
        elif failure is not None:
            status, response, headers = failure.status, failure.body, failure.headers
        else:
            status, response = self._answer(request.method, path, body, query)
            headers = {}
        async with self._changed:
            self.calls.append(Call(request.method, path, body, status, response, query))
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
            "application": {"id": str(APPLICATION_ID), "flags": self.application_flags},
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
