"""A fake of Slack's Web API on 127.0.0.1 for the real slack_sdk / slack-bolt clients.

Records every call with its arguments, answers the methods Threadwise uses (channels and their history in
``tests.fakes.slack_channels``), and can fail calls of a method with a status (429 with ``Retry-After``, 5xx) to
exercise the clients' retry handlers, or with one of Slack's error codes.

Native streaming as Slack documents it: ``chat.startStream`` (``channel`` and ``thread_ts`` required, and outside
a DM ``recipient_team_id`` and ``recipient_user_id``) posts a message in streaming state, ``chat.appendStream``
adds its ``markdown_text`` (or the text of its ``markdown_text`` chunks), ``chat.stopStream`` adds its own and the
``blocks`` under it and ends the stream; both answer ``message_not_in_streaming_state`` for a message that is not
streaming (``expire_stream`` ends one, as Slack does after some minutes) and ``message_not_found`` for no message.

The assistant container: ``assistant.threads.setStatus``, ``setTitle`` and ``setSuggestedPrompts`` check their
arguments (at most four prompts, each with a title and a message); ``conversations.replies`` in a DM lists the
bot's messages in the thread, with their ``metadata`` when ``include_all_metadata`` is set (where Bolt keeps an
assistant thread's context).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
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
    "FakeOAuth",
    "FakeSlack",
    "FakeWorkspace",
    "event_envelope",
    "fake_slack",
    "sign",
]

TEAM_ID = "T0TEAM001"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-1111-2222-slacktestbottoken"


_MESSAGE_NUMBERS = itertools.count(1)
"""Shared by every fake in the process: two tests' fakes in the same second never give out the same ``ts`` (the
test database, which outlives each fake, finds answers by it)."""


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    args: dict[str, Any]
    at: float
    response: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    """The token the call was made with (its ``Authorization: Bearer`` header)."""


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
    """The messages posted, by ts, as the last ``chat.update`` (or stream call) left them (``channel``, ``thread_ts``,
    ``text``, ``blocks``; and ``streaming`` for a streamed one: True until the stream is stopped)."""
    channels: FakeChannels = field(default_factory=FakeChannels)
    """Channels with a history people wrote, for the history methods."""
    _failures: dict[str, _Failure] = field(default_factory=dict)
    _ts: Iterator[int] = field(default_factory=lambda: _MESSAGE_NUMBERS)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    oauth: FakeOAuth = field(default_factory=lambda: FakeOAuth())
    """Workspaces that install the app through OAuth, each with its own bot token."""

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

    def calls_to(self, *methods: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method in methods]

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

    def expire_stream(self, ts: str) -> None:
        """End a message's stream as Slack does after some minutes: appending or stopping then fails."""
        with self._lock:
            self.messages[ts]["streaming"] = False

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def wait_for(self, method: str | tuple[str, ...], count: int = 1, timeout: float = 30.0) -> list[Call]:
        """The calls to ``method`` (or to any of several) once there are ``count`` of them."""
        methods = (method,) if isinstance(method, str) else method
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls_to(*methods)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        got = len(self.calls_to(*methods))
        raise AssertionError(f"expected {count} call(s) to {' or '.join(methods)}, got {got}: {self.calls}")

    def _message(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Post a message or edit one posted before (``message_not_found`` for any other ts, as Slack says). An edit
        without ``blocks`` keeps the message's blocks, as Slack documents (an empty list removes them)."""
        with self._lock:
            if method == "chat.update":
                ts = str(args.get("ts"))
                message = self.messages.get(ts)
                if message is None or message["channel"] != args.get("channel"):
                    return 200, {}, {"ok": False, "error": "message_not_found"}
            else:
                ts = self.next_ts()
                message = self.messages[ts] = {"channel": args.get("channel"), "thread_ts": args.get("thread_ts")}
            message.update(ts=ts, text=args.get("text"))
            if method == "chat.postMessage" or "blocks" in args:  # chat.update without blocks keeps them, as Slack does
                message["blocks"] = args.get("blocks")
            if args.get("metadata"):
                message["metadata"] = args["metadata"]
        return 200, {}, {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"text": args.get("text")}}

    def _stream(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """``chat.startStream``, ``chat.appendStream`` or ``chat.stopStream``, with the errors Slack documents."""
        text = _markdown(args)
        channel = args.get("channel")
        with self._lock:
            if method == "chat.startStream":
                if not channel or not args.get("thread_ts"):
                    return 200, {}, {"ok": False, "error": "invalid_arguments"}
                if not str(channel).startswith("D"):  # streaming to a channel names who it is for
                    for needed in ("recipient_team_id", "recipient_user_id"):
                        if not args.get(needed):
                            return 200, {}, {"ok": False, "error": f"missing_{needed}"}
                ts = self.next_ts()
                self.messages[ts] = {
                    "channel": channel,
                    "thread_ts": args.get("thread_ts"),
                    "ts": ts,
                    "text": text,
                    "blocks": None,
                    "streaming": True,
                }
                return 200, {}, {"ok": True, "channel": channel, "ts": ts}
            ts = str(args.get("ts"))
            message = self.messages.get(ts)
            if message is None or message["channel"] != channel:
                return 200, {}, {"ok": False, "error": "message_not_found"}
            if not message.get("streaming"):
                return 200, {}, {"ok": False, "error": "message_not_in_streaming_state"}
            if method == "chat.appendStream" and not text:
                return 200, {}, {"ok": False, "error": "no_text"}
            message["text"] += text
            if method == "chat.stopStream":
                message["streaming"] = False
                if args.get("blocks"):
                    message["blocks"] = args["blocks"]
        return 200, {}, {"ok": True, "channel": channel, "ts": ts}

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

    def handle(
        self, method: str, args: dict[str, Any], token: str | None = None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        status, headers, body = self.oauth.answer(method, args, token) or self._answer(method, args)
        with self._lock:
            self.calls.append(Call(method, args, time.time(), body, token))
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
        if method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            return self._stream(method, args)
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
        if method.startswith("assistant.threads."):
            return _assistant_thread(method, args)
        if method == "conversations.replies" and str(args.get("channel", "")).startswith("D"):
            return self._dm_replies(args)
        return self.channels.answer(method, args) or (200, {}, {"ok": False, "error": "unknown_method"})

    def _dm_replies(self, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """The bot's messages in a DM thread, oldest first, as Slack lists a thread."""
        with self._lock:
            found = [
                {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": m["ts"], "text": m["text"]}
                | {"blocks": m.get("blocks") or [], "thread_ts": m["thread_ts"]}
                | ({"metadata": m["metadata"]} if m.get("metadata") and args.get("include_all_metadata") else {})
                for m in self.messages.values()
                if m["channel"] == args.get("channel") and m.get("thread_ts") == args.get("ts")
            ]
        found.sort(key=lambda message: float(message["ts"]))
        return 200, {}, {"ok": True, "messages": found[: int(args.get("limit") or 1000)], "has_more": False}


def _assistant_thread(method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    needed = {
        "assistant.threads.setStatus": ("channel_id", "thread_ts"),
        "assistant.threads.setTitle": ("channel_id", "thread_ts", "title"),
        "assistant.threads.setSuggestedPrompts": ("channel_id", "prompts"),
    }.get(method)
    if needed is None:
        return 200, {}, {"ok": False, "error": "unknown_method"}
    if any(not args.get(name) for name in needed) or (method.endswith("setStatus") and "status" not in args):
        return 200, {}, {"ok": False, "error": "invalid_arguments"}
    prompts = args.get("prompts")
    if prompts is not None and (
        not isinstance(prompts, list)
        or len(prompts) > 4
        or not all(isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts)
    ):
        return 200, {}, {"ok": False, "error": "invalid_arguments"}
    return 200, {}, {"ok": True}


def _markdown(args: dict[str, Any]) -> str:
    """The Markdown a stream call carries: its ``markdown_text``, then its ``markdown_text`` chunks' text."""
    chunks = args.get("chunks")
    texts = [
        chunk.get("text", "")
        for chunk in (chunks if isinstance(chunks, list) else [])
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text"
    ]
    return str(args.get("markdown_text") or "") + "".join(texts)


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
                for key in ("blocks", "attachments", "chunks", "metadata", "prompts", "loading_messages"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
            url = urlsplit(self.path)
            args |= dict(parse_qsl(url.query))
            method = url.path.removeprefix("/api/")
            status, headers, body = fake.handle(method, args, _token(self.headers.get("Authorization", ""), args))
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


# --- OAuth installs --------------------------------------------------------------------------------------------

OAUTH_CLIENT_ID = "1111111111.2222222222"
OAUTH_CLIENT_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
APP_ID = "A0APP0001"
INSTALLED_SCOPES = "app_mentions:read,chat:write,commands,users:read"


def _token(authorization: str, args: dict[str, Any]) -> str | None:
    """The call's token (``Bearer``); an ``oauth.v2.access`` call's client credentials (``Basic``) go into its
    arguments, where Slack also accepts them."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme == "Bearer":
        return credentials
    if scheme == "Basic":
        client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
        args.setdefault("client_id", client_id)
        args.setdefault("client_secret", client_secret)
    return args.get("token")


@dataclass(frozen=True)
class FakeWorkspace:
    """A workspace that can install the app, and the bot token and bot user Slack gives it when it does; or, with
    ``org_wide``, an Enterprise Grid organisation installing it org-wide (``team_id`` is then its ``E…`` id)."""

    team_id: str
    name: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    installer: str = "U0INSTALLER"
    org_wide: bool = False


@dataclass
class FakeOAuth:
    """OAuth v2 as Slack documents it: an admin approves the install on Slack's authorize page, which sends the
    browser back with a one-time ``code``; ``oauth.v2.access`` (with the app's client id and secret) trades it for the
    workspace's bot token. ``auth.test`` then answers for the workspace whose token it is called with, and every
    call with a revoked token gets ``token_revoked``. Calls with other tokens are left to the rest of the fake."""

    client_id: str = OAUTH_CLIENT_ID
    client_secret: str = OAUTH_CLIENT_SECRET
    workspaces: dict[str, FakeWorkspace] = field(default_factory=dict)
    """By bot token."""
    revoked: set[str] = field(default_factory=set)
    _codes: dict[str, FakeWorkspace] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def workspace(self, name: str, *, org_wide: bool = False) -> FakeWorkspace:
        """A new workspace (or, ``org_wide``, an organisation), not installed yet."""
        suffix = secrets.token_hex(5).upper()
        workspace = FakeWorkspace(
            team_id=f"{'E' if org_wide else 'T'}{suffix}",
            name=name,
            bot_token=f"xoxb-{suffix}-{secrets.token_hex(12)}",
            bot_user_id=f"U{suffix}",
            bot_id=f"B{suffix}",
            org_wide=org_wide,
        )
        with self._lock:
            self.workspaces[workspace.bot_token] = workspace
        return workspace

    def approve(self, workspace: FakeWorkspace) -> str:
        """What Slack's authorize page does when the workspace's admin allows the install: the ``code`` it sends
        the browser back with."""
        code = f"{workspace.team_id}.{secrets.token_hex(8)}"
        with self._lock:
            self._codes[code] = workspace
        return code

    def revoke(self, workspace: FakeWorkspace) -> None:
        """The workspace uninstalled the app: Slack refuses its token from now on."""
        with self._lock:
            self.revoked.add(workspace.bot_token)

    def answer(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        with self._lock:
            if token is not None and token in self.revoked:
                return 200, {}, {"ok": False, "error": "token_revoked"}
            if method == "oauth.v2.access":
                return self._access(args)
            workspace = self.workspaces.get(token or "")
        if method == "auth.test" and workspace is not None:
            identity = {
                "ok": True,
                "url": f"https://{workspace.name.lower()}.slack.com/",
                "team": workspace.name,
                "team_id": workspace.team_id,
                "user": "threadwise",
                "user_id": workspace.bot_user_id,
                "bot_id": workspace.bot_id,
            }
            if workspace.org_wide:
                identity |= {"enterprise_id": workspace.team_id, "is_enterprise_install": True}
            return 200, {}, identity
        return None

    def _access(self, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if args.get("client_id") != self.client_id:
            return 200, {}, {"ok": False, "error": "invalid_client_id"}
        if args.get("client_secret") != self.client_secret:
            return 200, {}, {"ok": False, "error": "bad_client_secret"}
        workspace = self._codes.pop(str(args.get("code")), None)  # a code works once
        if workspace is None:
            return 200, {}, {"ok": False, "error": "invalid_code"}
        installed = {"name": workspace.name, "id": workspace.team_id}
        return (
            200,
            {},
            {
                "ok": True,
                "access_token": workspace.bot_token,
                "token_type": "bot",
                "scope": INSTALLED_SCOPES,
                "bot_user_id": workspace.bot_user_id,
                "app_id": APP_ID,
                "team": None if workspace.org_wide else installed,
                "enterprise": installed if workspace.org_wide else None,
                "authed_user": {"id": workspace.installer},
                "is_enterprise_install": workspace.org_wide,
            },
        )
