"""A fake Langfuse server on 127.0.0.1: takes the SDK's traces (OTLP protobuf over HTTP) and scores (JSON) and
keeps what they carry.

Point ``LANGFUSE_HOST`` at ``fake.host``; the SDK posts spans to ``/api/public/otel/v1/traces`` and scores to
``/api/public/scores`` (and deletes a withdrawn score with ``DELETE /api/public/scores/<id>``).
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

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.fakes.http_server import read_body, send_bytes, serving

TRACES_PATH = "/api/public/otel/v1/traces"
SCORES_PATH = "/api/public/scores"


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    attributes: dict[str, Any]


@dataclass
class FakeLangfuse:
    host: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every request, in order."""
    auth: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    deleted_scores: list[str] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def traces(self) -> dict[str, list[Span]]:
        """Spans by trace id."""
        with self._lock:
            found: dict[str, list[Span]] = {}
            for span in self.spans:
                found.setdefault(span.trace_id, []).append(span)
            return found

    def wait_for(self, check: Callable[[FakeLangfuse], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if check(self):
                    return
            time.sleep(0.05)
        raise AssertionError(f"the fake Langfuse did not get what was expected; requests: {self.requests}")


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _value(item.value) for item in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def parse_spans(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return [
        Span(
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=span.parent_span_id.hex(),
            name=span.name,
            attributes={attribute.key: _value(attribute.value) for attribute in span.attributes},
        )
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def _handler(fake: FakeLangfuse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            # The SDK keeps connections open; closing each one lets no handler thread outlive the fake.
            send_bytes(self, status, body, content_type, close=True)

        def _record(self) -> None:
            with fake._lock:
                fake.requests.append((self.command, self.path))
                fake.auth.append(self.headers.get("Authorization", ""))

        def do_POST(self) -> None:
            body = read_body(self)
            self._record()
            if self.path == TRACES_PATH:
                spans = parse_spans(body)
                with fake._lock:
                    fake.spans.extend(spans)
                self._reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")
            elif self.path == SCORES_PATH:
                scores = json.loads(body)
                with fake._lock:
                    fake.scores.extend(scores if isinstance(scores, list) else [scores])
                self._reply(202, json.dumps({"message": "Accepted"}).encode())
            else:
                self._reply(404, b'{"message": "not found"}')

        def do_DELETE(self) -> None:
            self._record()
            if self.path.startswith(SCORES_PATH + "/"):
                with fake._lock:
                    fake.deleted_scores.append(self.path.rsplit("/", 1)[1])
                self._reply(200, b'{"message": "deleted"}')
            else:
                self._reply(404, b'{"message": "not found"}')

    return Handler


@contextmanager
def fake_langfuse() -> Iterator[FakeLangfuse]:
    fake = FakeLangfuse()
    with serving(_handler(fake), name="fake-langfuse") as base_url:
        fake.host = base_url
        yield fake
