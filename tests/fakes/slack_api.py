"""A fake of Slack's Web API on 127.0.0.1 for the real slack_sdk / slack-bolt clients.

Records every call with its arguments, answers the methods Threadwise uses (channels and their history in
``tests.fakes.slack_channels``), and can fail calls of a method with a status (429 with ``Retry-After``, 5xx) to
exercise the clients' retry handlers, or with one of Slack's error codes.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.http_server import send_json, serving
from tests.fakes.slack_channels import BOT_ID, BOT_USER_ID, WORKSPACE_URL, FakeChannels

__all__ = [
    "BOT_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "SIGNING_SECRET",
    "TEAM_ID",
    "WORKSPACE_URL",
    "Call",
    "FakeChannels",
    "FakeSlack",
    "event_envelope",
    "fake_slack",
    "sign",
]

TEAM_ID = "T0TEAM001"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-1111-2222-slacktestbottoken"


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    args: dict[str, Any]
    at: float
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    remaining: int
    skip: int = 0
    """Calls answered normally before the failures start."""
    error: str | None = None
    """Slack's error code, answered with HTTP 200 and ``ok: false`` as Slack does (``status`` is then unused)."""


@dataclass
class FakeSlack:
    base_url: str = ""
    socket_url: str = ""
    """What apps.connections.open hands out (a fake Socket Mode server), when a test runs one."""
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The messages posted, by ts, as the last ``chat.update`` left them (``channel``, ``thread_ts``, ``text``)."""
    channels: FakeChannels = field(default_factory=FakeChannels)
    """Channels with a history people wrote, for the history methods."""
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        after: int = 0,
        error: str | None = None,
    ) -> None:
        """After ``after`` more calls answered normally, the next ``times`` calls of ``method`` get ``status``
        instead of an answer (or, with ``error``, Slack's ``{"ok": false, "error": error}``)."""
        with self._lock:
            self._failures[method] = _Failure(status, retry_after, times, skip=after, error=error)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's messages in a thread as people see them now, oldest first."""
        with self._lock:
            return [
                dict(m) for m in self.messages.values() if m["channel"] == channel and m.get("thread_ts") == thread_ts
            ]

    def delete(self, ts: str) -> None:
        """Remove a message, as a person deleting it would: editing it then fails with ``message_not_found``."""
        with self._lock:
            del self.messages[ts]

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls_to(method)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} call(s) to {method}, got {len(self.calls_to(method))}: {self.calls}")

    def _message(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Post a message or edit one posted before (``message_not_found`` for any other ts, as Slack says)."""
        with self._lock:
            if method == "chat.update":
                ts = str(args.get("ts"))
                message = self.messages.get(ts)
                if message is None or message["channel"] != args.get("channel"):
                    return 200, {}, {"ok": False, "error": "message_not_found"}
            else:
                ts = self.next_ts()
                message = self.messages[ts] = {"channel": args.get("channel"), "thread_ts": args.get("thread_ts")}
            message.update(ts=ts, text=args.get("text"), blocks=args.get("blocks"))
        return 200, {}, {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"text": args.get("text")}}

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            failure = self._failures.get(method)
            if failure is None or failure.remaining <= 0:
                return None
            if failure.skip > 0:
                failure.skip -= 1
                return None
            failure.remaining -= 1
            return failure

    def handle(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        status, headers, body = self._answer(method, args)
        with self._lock:
            self.calls.append(Call(method, args, time.time(), body))
        return status, headers, body

    def _answer(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        failure = self._take_failure(method)
        if failure is not None and failure.error is not None:
            return 200, {}, {"ok": False, "error": failure.error}
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            error = "ratelimited" if failure.status == 429 else "fatal_error"
            return failure.status, headers, {"ok": False, "error": error}
        if method == "auth.test":
            return (
                200,
                {},
                {
                    "ok": True,
                    "url": self.channels.workspace_url,
                    "user": "threadwise",
                    "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID,
                    "team_id": TEAM_ID,
                    "team": "Acme",
                },
            )
        if method in ("chat.postMessage", "chat.update"):
            return self._message(method, args)
        if method == "chat.postEphemeral":
            ts = self.next_ts()
            return (
                200,
                {},
                {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"text": args.get("text")}},
            )
        if method == "apps.connections.open":
            return 200, {}, {"ok": True, "url": self.socket_url} if self.socket_url else {"ok": False, "error": "none"}
        if method == "users.info":
            user = str(args.get("user", ""))
            # Users whose id starts with UADMIN are workspace admins in this fake.
            return 200, {}, {"ok": True, "user": {"id": user, "is_admin": user.startswith("UADMIN"), "is_owner": False}}
        if method in ("reactions.add", "reactions.remove"):
            return 200, {}, {"ok": True}
        return self.channels.answer(method, args) or (200, {}, {"ok": False, "error": "unknown_method"})


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:  # some methods (users.info) are called with GET and query parameters
            self.do_POST()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                args: dict[str, Any] = json.loads(raw or "{}")
            else:
                args = dict(parse_qsl(raw))
                for key in ("blocks", "attachments"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
            url = urlsplit(self.path)
            args |= dict(parse_qsl(url.query))
            method = url.path.removeprefix("/api/")
            status, headers, body = fake.handle(method, args)
            send_json(self, status, body, headers)

    return Handler


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    with serving(_handler(fake), name="fake-slack") as base_url:
        fake.base_url = base_url
        yield fake


def sign(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Headers Slack sends with an event: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def event_envelope(event: dict[str, Any], *, event_id: str, team_id: str = TEAM_ID) -> dict[str, Any]:
    return {
        "token": "unused",
        "team_id": team_id,
        "api_app_id": "A0APP0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True}],
    }
