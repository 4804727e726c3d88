"""A stand-in for Slack's, Discord's and an OpenAI-compatible server's "who am I" endpoints, on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from tests.fakes.http_server import serving

GOOD_SLACK_TOKEN = "xoxb-1111-2222-goodtokenvalue"
GOOD_DISCORD_TOKEN = "discord.good.tokenvalue-0123456789"
GOOD_LLM_KEY = "sk-goodllmkey-0123456789abcdef"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return

    def _send(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        if self.path == "/slack/api/auth.test":
            if self.headers.get("Authorization") == f"Bearer {GOOD_SLACK_TOKEN}":
                self._send(200, {"ok": True, "team": "Acme", "user": "threadwise"})
            else:
                self._send(200, {"ok": False, "error": "invalid_auth"})
            return
        self._send(404, {"error": "not found"})

    def do_GET(self) -> None:
        if self.path == "/discord/api/v10/users/@me":
            if self.headers.get("Authorization") == f"Bot {GOOD_DISCORD_TOKEN}":
                self._send(200, {"id": "1", "username": "threadwise"})
            else:
                self._send(401, {"message": "401: Unauthorized", "code": 0})
            return
        if self.path == "/llm/v1/models":
            if self.headers.get("Authorization") == f"Bearer {GOOD_LLM_KEY}":
                self._send(200, {"object": "list", "data": [{"id": "local-model", "object": "model"}]})
            else:
                self._send(401, {"error": {"message": "bad key"}})
            return
        self._send(404, {"error": "not found"})


@contextmanager
def fake_integrations() -> Iterator[str]:
    """Serve the fakes; yields the base URL (http://127.0.0.1:PORT)."""
    with serving(_Handler, name="fake-integrations") as base_url:
        yield base_url
