"""Stand-ins for what lies outside the machine, for ``threadwise bench``: Slack's Web API (records what the bot
posts) and an OpenAI-compatible model that answers instantly. Threads on 127.0.0.1; never used in production."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

INSTANT_ANSWER = "Press Rotate on the Security page of the admin console [1]."


class SlackStandIn:
    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    def answer(self, method: str, args: dict[str, str]) -> dict[str, object]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBENCHBOT", "bot_id": "BBENCH", "team_id": "TBENCH"}
        if method in ("chat.postMessage", "chat.update"):
            ts = args.get("ts") or f"{int(time.time())}.{next(self._ts):06d}"
            if method == "chat.postMessage":
                with self._lock:
                    self.posts.append(args)
            return {"ok": True, "channel": args.get("channel"), "ts": ts}
        return {"ok": True}

    def answered_threads(self) -> list[str]:
        with self._lock:
            return [p.get("thread_ts", "") for p in self.posts]


def _slack_handler(stand_in: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            url = urlsplit(self.path)
            is_json = self.headers.get("Content-Type", "").startswith("application/json")
            args = {k: str(v) for k, v in (json.loads(raw or "{}") if is_json else dict(parse_qsl(raw))).items()}
            args |= dict(parse_qsl(url.query))
            body = json.dumps(stand_in.answer(url.path.removeprefix("/api/"), args)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _LLMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        base = {"id": "chatcmpl-bench", "created": int(time.time()), "model": request.get("model", "instant")}
        usage = {"prompt_tokens": 100, "completion_tokens": 12, "total_tokens": 112}
        if not request.get("stream"):
            message = {"role": "assistant", "content": INSTANT_ANSWER}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._send(
                "application/json",
                json.dumps(base | {"object": "chat.completion", "choices": [choice], "usage": usage}),
            )
            return
        chunk = base | {"object": "chat.completion.chunk"}
        events = [
            chunk | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": INSTANT_ANSWER}}]},
            chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            chunk | {"choices": [], "usage": usage},
        ]
        self._send("text/event-stream", "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n")

    def _send(self, content_type: str, text: str) -> None:
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def slack_stand_in() -> Iterator[tuple[SlackStandIn, str]]:
    stand_in = SlackStandIn()
    with _serve(_slack_handler(stand_in)) as base:
        yield stand_in, f"{base}/api/"


@contextmanager
def instant_llm() -> Iterator[str]:
    with _serve(_LLMHandler) as base:
        yield f"{base}/v1"
