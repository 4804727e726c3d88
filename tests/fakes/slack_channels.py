"""Channels and their history for the fake Slack Web API (``tests.fakes.slack_api``).

Answers ``conversations.info``, ``conversations.history``, ``conversations.replies`` and ``chat.getPermalink`` in
the shapes Slack documents: newest first for history and oldest first for a thread (its parent first, on every
page), opaque cursors in ``response_metadata.next_cursor`` ("" on the last page), ``oldest``/``latest`` exclusive,
parents carrying ``reply_count``, ``reply_users``, ``reply_users_count`` and ``latest_reply``. A private channel
the bot is not in does not exist for it (``channel_not_found``); a public one it has not joined answers
``conversations.info`` but not its history (``not_in_channel``). A deleted parent with replies stays as Slack
leaves it: a ``tombstone``.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any

WORKSPACE_URL = "https://acme.slack.com/"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
PEOPLE = {"U0ALICE": "Alice", "U0BOB": "Bob", "U0CAROL": "Carol"}
"""Display names the fake's messages carry in ``user_profile``, as Slack's do for people."""

Answer = tuple[int, dict[str, str], dict[str, Any]]


@dataclass
class _Channel:
    id: str
    name: str
    private: bool
    member: bool
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By ts: top-level messages and thread replies alike (a reply has a ``thread_ts`` other than its ts)."""


@dataclass
class FakeChannels:
    workspace_url: str = WORKSPACE_URL
    _channels: dict[str, _Channel] = field(default_factory=dict)
    _last_us: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def add(self, channel: str, name: str, *, private: bool = False, member: bool = True) -> None:
        with self._lock:
            self._channels[channel] = _Channel(channel, name, private, member)

    def set_private(self, channel: str, private: bool = True) -> None:
        with self._lock:
            self._channels[channel].private = private

    def post(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0ALICE",
        thread_ts: str | None = None,
        ts: str | None = None,
        bot: bool = False,
        subtype: str | None = None,
    ) -> str:
        """A message in the channel (a reply when ``thread_ts`` is given); returns its ts. ``bot``: posted by
        Threadwise itself."""
        with self._lock:
            ts = ts or self._next_ts()
            message: dict[str, Any] = {"type": "message", "ts": ts, "text": text}
            if bot:
                message |= {"user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": "A0APP0001"}
            else:
                message["user"] = user
                if user in PEOPLE:
                    name = PEOPLE[user]
                    message["user_profile"] = {"display_name": name, "real_name": f"{name} Example", "name": name}
            if thread_ts is not None:
                message["thread_ts"] = thread_ts
            if subtype is not None:
                message["subtype"] = subtype
            self._channels[channel].messages[ts] = message
            return ts

    def thread(self, channel: str, question: str, *replies: str, user: str = "U0ALICE", ts: str | None = None) -> str:
        """A question and its replies (by U0BOB), as people post them; returns the thread's ts."""
        parent = self.post(channel, question, user=user, ts=ts)
        for reply in replies:
            self.post(channel, reply, user="U0BOB", thread_ts=parent, ts=self._after(parent) if ts else None)
        return parent

    def edit(self, channel: str, ts: str, text: str) -> None:
        with self._lock:
            message = self._channels[channel].messages[ts]
            message["text"] = text
            message["edited"] = {"user": message.get("user"), "ts": self._next_ts()}

    def delete(self, channel: str, ts: str) -> None:
        """As a person deleting the message: a parent with replies becomes a tombstone, anything else goes."""
        with self._lock:
            messages = self._channels[channel].messages
            if any(m.get("thread_ts") == ts and m["ts"] != ts for m in messages.values()):
                messages[ts] = {
                    "type": "message",
                    "subtype": "tombstone",
                    "text": "This message was deleted.",
                    "user": "USLACKBOT",
                    "hidden": True,
                    "ts": ts,
                    "thread_ts": ts,
                }
            else:
                del messages[ts]

    def _next_ts(self) -> str:
        us = max(int(time.time() * 1_000_000), self._last_us + 1)
        self._last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _after(self, ts: str) -> str:
        """A ts just after ``ts`` not taken yet (replies to a thread posted in the past)."""
        seconds, _, micros = ts.partition(".")
        us = int(seconds) * 1_000_000 + int(micros)
        taken = {t for c in self._channels.values() for t in c.messages}
        while True:
            us += 1
            candidate = f"{us // 1_000_000}.{us % 1_000_000:06d}"
            if candidate not in taken:
                return candidate

    # The Web API methods.

    def answer(self, method: str, args: dict[str, Any]) -> Answer | None:
        """Slack's answer to a channel method; None for any other method."""
        handlers = {
            "conversations.info": self._info,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "chat.getPermalink": self._permalink,
        }
        handler = handlers.get(method)
        if handler is None:
            return None
        with self._lock:
            return handler(args)

    def _visible(self, args: dict[str, Any], *, read: bool) -> _Channel | Answer:
        channel = self._channels.get(str(args.get("channel", "")))
        if channel is None or (channel.private and not channel.member):
            return _error("channel_not_found")
        if read and not channel.member:
            return _error("not_in_channel")
        return channel

    def _info(self, args: dict[str, Any]) -> Answer:
        channel = self._visible(args, read=False)
        if not isinstance(channel, _Channel):
            return channel
        return _ok(
            channel={
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.private,
                "is_group": channel.private,
                "is_im": False,
                "is_private": channel.private,
                "is_member": channel.member,
                "is_archived": False,
            }
        )

    def _history(self, args: dict[str, Any]) -> Answer:
        channel = self._visible(args, read=True)
        if not isinstance(channel, _Channel):
            return channel
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or time.time() + 1)
        top = [
            self._with_replies(channel, m)
            for m in channel.messages.values()
            if (m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast")
            and oldest < float(m["ts"]) < latest
        ]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        page, cursor = _page(top, args, default_limit=100)
        return _ok(messages=page, has_more=bool(cursor), response_metadata={"next_cursor": cursor})

    def _with_replies(self, channel: _Channel, message: dict[str, Any]) -> dict[str, Any]:
        replies = sorted(
            (m for m in channel.messages.values() if m.get("thread_ts") == message["ts"] and m["ts"] != message["ts"]),
            key=lambda m: float(m["ts"]),
        )
        if not replies:
            return dict(message)
        users = list(dict.fromkeys(m.get("user", "") for m in replies))
        return message | {
            "thread_ts": message["ts"],
            "reply_count": len(replies),
            "reply_users_count": len(users),
            "reply_users": users[:5],
            "latest_reply": replies[-1]["ts"],
            "is_locked": False,
            "subscribed": False,
        }

    def _replies(self, args: dict[str, Any]) -> Answer:
        channel = self._visible(args, read=True)
        if not isinstance(channel, _Channel):
            return channel
        parent = channel.messages.get(str(args.get("ts", "")))
        if parent is None:
            return _error("thread_not_found")
        replies = sorted(
            (m for m in channel.messages.values() if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]),
            key=lambda m: float(m["ts"]),
        )
        page, cursor = _page([dict(m) for m in replies], args, default_limit=100)
        # Slack repeats the parent at the top of every page.
        return _ok(
            messages=[self._with_replies(channel, parent), *page],
            has_more=bool(cursor),
            response_metadata={"next_cursor": cursor},
        )

    def _permalink(self, args: dict[str, Any]) -> Answer:
        channel = self._visible(args, read=False)
        if not isinstance(channel, _Channel):
            return channel
        message = channel.messages.get(str(args.get("message_ts", "")))
        if message is None:
            return _error("message_not_found")
        link = f"{self.workspace_url}archives/{channel.id}/p{message['ts'].replace('.', '')}"
        thread = message.get("thread_ts")
        if thread is not None and thread != message["ts"]:
            link += f"?thread_ts={thread}&cid={channel.id}"
        return _ok(channel=channel.id, permalink=link)


def _page(items: list[dict[str, Any]], args: dict[str, Any], *, default_limit: int) -> tuple[list[dict[str, Any]], str]:
    """One page of ``items`` from the request's ``cursor`` and ``limit``, and the cursor of the next ("" if none)."""
    limit = max(1, min(int(args.get("limit") or default_limit), 999))
    start = int(base64.b64decode(args["cursor"]).decode().removeprefix("offset:")) if args.get("cursor") else 0
    end = start + limit
    cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], cursor


def _ok(**body: Any) -> Answer:
    return 200, {}, {"ok": True, **body}


def _error(code: str) -> Answer:
    return 200, {}, {"ok": False, "error": code}
