"""A fake Sentry ingest endpoint on 127.0.0.1: accepts the SDK's envelopes and keeps what they carry.

Point ``SENTRY_DSN`` at ``fake.dsn``; the SDK then posts ``/api/<project>/envelope/`` here (gzip or plain).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.http_server import read_body, send_json, serving

PUBLIC_KEY = "0123456789abcdef0123456789abcdef"
PROJECT = "42"


@dataclass
class Envelope:
    headers: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]]
    raw: bytes
    """The whole envelope as sent (decompressed): search it for anything that must not leave the process."""

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(body) for header, body in self.items if header.get("type") == kind]


@dataclass
class FakeSentry:
    dsn: str = ""
    envelopes: list[Envelope] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        return self.payloads("event")

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        """Every item of ``kind`` received so far ("event", "transaction", ...)."""
        with self._lock:
            return [payload for envelope in self.envelopes for payload in envelope.payloads(kind)]

    def wait_for_events(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        return self.wait_for("event", count, timeout=timeout)

    def wait_for(
        self,
        kind: str,
        count: int,
        matching: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = 15.0,
    ) -> list[dict[str, Any]]:
        """At least ``count`` items of ``kind`` for which ``matching`` holds, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := [item for item in self.payloads(kind) if matching(item)]) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} Sentry {kind} items, got {len(found)}")

    def raw(self) -> bytes:
        with self._lock:
            return b"\n".join(envelope.raw for envelope in self.envelopes)


def parse_envelope(raw: bytes) -> Envelope:
    lines = raw.split(b"\n")
    headers = json.loads(lines[0])
    items: list[tuple[dict[str, Any], bytes]] = []
    index = 1
    while index < len(lines) and lines[index].strip():
        item_header = json.loads(lines[index])
        length = item_header.get("length")
        rest = b"\n".join(lines[index + 1 :])
        if length is None:  # the payload runs to the end of the line
            body = lines[index + 1]
            index += 2
        else:
            body = rest[:length]
            consumed = rest[: length + 1].count(b"\n")
            index += 1 + max(consumed, 1)
        items.append((item_header, body))
    return Envelope(headers=headers, items=items, raw=raw)


def _handler(fake: FakeSentry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            body = read_body(self)
            with fake._lock:
                fake.paths.append(self.path)
                fake.envelopes.append(parse_envelope(body))
            # The SDK keeps connections open; closing each one lets no handler thread outlive the fake.
            send_json(self, 200, {"id": fake.envelopes[-1].headers.get("event_id")}, close=True)

    return Handler


@contextmanager
def fake_sentry() -> Iterator[FakeSentry]:
    fake = FakeSentry()
    with serving(_handler(fake), name="fake-sentry") as base_url:
        fake.dsn = base_url.replace("http://", f"http://{PUBLIC_KEY}@") + f"/{PROJECT}"
        yield fake
