"""SourceHttp over real HTTP against a scripted server on 127.0.0.1: retries, Retry-After, the budget, the size cap,
cancellation, and no secret in what it says."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest
from structlog.testing import capture_logs

from knowledge.sources.http import (
    BudgetExceeded,
    ResponseTooLarge,
    RetryPolicy,
    SourceHttp,
    retry_after_seconds,
)
from knowledge.sources.protocol import ConnectorError
from tests.fakes.http_server import read_body, send_bytes, serving

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "s3cr3t-token-value"

Reply = tuple[int, dict[str, str], bytes]


class Script:
    """Replies per path, served in order; the last one repeats. Records each request's path and headers."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.posted: list[tuple[str, bytes]] = []
        """Each POST's path and body, in order."""
        self.lock = threading.Lock()

    def reply(self, path: str) -> Reply:
        with self.lock:
            queue = self.replies.get(path) or [(404, {}, b"none")]
            return queue.pop(0) if len(queue) > 1 else queue[0]


class Sleeps(list[float]):
    """An injected sleep: records how long it was asked to wait, waits not at all."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def script() -> Script:
    return Script()


@pytest.fixture(scope="module")
def base_url(script: Script) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with script.lock:
                script.seen.append((self.path, dict(self.headers)))
            if self.path == "/endless":  # HTTP/1.0, no Content-Length: only counting stops it
                self.send_response(200)
                self.end_headers()
                try:
                    for _ in range(1000):
                        self.wfile.write(b"b" * 4096)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            status, headers, body = script.reply(urlsplit(self.path).path)
            send_bytes(self, status, body, "text/plain", headers)

        def do_POST(self) -> None:
            posted = read_body(self)
            with script.lock:
                script.seen.append((self.path, dict(self.headers)))
                script.posted.append((self.path, posted))
            status, headers, body = script.reply(urlsplit(self.path).path)
            send_bytes(self, status, body, "application/json", headers)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    with serving(Handler, name="scripted") as url:
        yield url


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(
    sleeps: Sleeps,
    *,
    max_requests: int = 50,
    retry: RetryPolicy | None = None,
    headers: dict[str, str] | None = None,
) -> SourceHttp:
    return SourceHttp(
        max_requests=max_requests,
        max_bytes=10_000,
        retry=retry,
        headers=headers,
        trust_env=False,
        sleep=sleeps,
        jitter=lambda: 0.5,
        clock=NOW.timestamp,
    )


async def test_a_passing_failure_is_retried_with_growing_backoff(base_url: str, script: Script, sleeps: Sleeps) -> None:
    script.replies["/flaky"] = [(503, {}, b""), (502, {}, b""), (500, {}, b""), (200, {}, b"ok")]
    http = client(sleeps)
    try:
        response = await http.get(f"{base_url}/flaky")
    finally:
        await http.aclose()

    assert (response.status, response.content) == (200, b"ok")
    # base 0.5 s doubling, half of each step fixed and half jittered (jitter 0.5 → three quarters of the step)
    assert sleeps == [0.375, 0.75, 1.5]
    assert http.requests == 4


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("7", 7.0),
        (format_datetime(datetime(2025, 6, 1, 12, 0, 42, tzinfo=UTC), usegmt=True), 42.0),
        ("3600", 60.0),  # capped: a server cannot stall the sync for an hour
        ("soon", 0.375),  # unreadable: ordinary backoff
    ],
)
async def test_retry_after_is_honoured_and_capped(
    base_url: str, script: Script, sleeps: Sleeps, retry_after: str, expected: float
) -> None:
    script.replies["/limited"] = [(429, {"Retry-After": retry_after}, b"slow down"), (200, {}, b"ok")]
    http = client(sleeps)
    try:
        response = await http.get(f"{base_url}/limited")
    finally:
        await http.aclose()

    assert response.status == 200
    assert sleeps == [expected]


async def test_a_json_post_shares_the_retries_budget_and_cap(base_url: str, script: Script, sleeps: Sleeps) -> None:
    script.replies["/v1/search"] = [(429, {"Retry-After": "2"}, b""), (200, {}, b'{"results": []}')]
    script.replies["/v1/huge"] = [(200, {}, b"x" * 20_000)]
    http = client(sleeps, max_requests=3)
    try:
        response = await http.post_json(
            f"{base_url}/v1/search", json={"page_size": 100}, headers={"Notion-Version": "2022-06-28"}
        )
        with pytest.raises(ResponseTooLarge, match="over the 10 kB limit"):
            await http.post_json(f"{base_url}/v1/huge", json={})
        with pytest.raises(BudgetExceeded):
            await http.post_json(f"{base_url}/v1/search", json={})
    finally:
        await http.aclose()

    assert (response.status, response.json()) == (200, {"results": []})
    assert sleeps == [2.0], "Retry-After honoured"
    sent = [(path, body) for path, body in script.posted if path == "/v1/search"]
    assert sent == [("/v1/search", b'{"page_size":100}')] * 2, "the same body sent again on the retry"
    search_headers = [headers for path, headers in script.seen if path == "/v1/search"]
    assert all(h["Content-Type"] == "application/json" and h["Notion-Version"] == "2022-06-28" for h in search_headers)


def test_retry_after_values() -> None:
    now = NOW.timestamp()
    assert retry_after_seconds("0", now=now) == 0.0
    assert retry_after_seconds("2.5", now=now) == 2.5
    assert retry_after_seconds("Sat, 01 Jun 2024 12:00:00 GMT", now=now) == 0.0  # in the past: no wait
    assert retry_after_seconds("Sun, 01 Jun 2025 12:00:10 -0000", now=now) == 10.0
    for nonsense in (None, "", "-5", "nan", "tomorrow"):
        assert retry_after_seconds(nonsense, now=now) is None


async def test_retries_end_with_an_error_naming_the_status(base_url: str, script: Script, sleeps: Sleeps) -> None:
    script.replies["/down"] = [(503, {}, b"")]
    http = client(sleeps, retry=RetryPolicy(attempts=3))
    try:
        with pytest.raises(ConnectorError, match=r"HTTP 503 from http://127\.0\.0\.1:\d+/down after 3 attempts"):
            await http.get(f"{base_url}/down")
    finally:
        await http.aclose()
    assert len(sleeps) == 2


async def test_other_statuses_are_the_callers_to_judge(base_url: str, script: Script, sleeps: Sleeps) -> None:
    script.replies["/gone"] = [(410, {}, b"gone")]
    http = client(sleeps)
    try:
        response = await http.get(f"{base_url}/gone")
    finally:
        await http.aclose()
    assert response.status == 410
    assert sleeps == []


async def test_connection_failures_are_retried_then_reported(sleeps: Sleeps) -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    http = client(sleeps)
    try:
        with pytest.raises(ConnectorError, match=r"cannot reach http://127\.0\.0\.1:\d+/x \(ConnectError\)"):
            await http.get(f"http://127.0.0.1:{port}/x?token={SECRET}")
    finally:
        await http.aclose()
    assert len(sleeps) == 3


async def test_the_request_budget_stops_the_run(base_url: str, script: Script, sleeps: Sleeps) -> None:
    script.replies["/page"] = [(200, {}, b"ok")]
    script.replies["/busy"] = [(503, {}, b""), (200, {}, b"ok")]
    http = client(sleeps, max_requests=3)
    try:
        await http.get(f"{base_url}/page")
        await http.get(f"{base_url}/busy")  # a retry counts: two requests
        with pytest.raises(BudgetExceeded, match="budget of 3 requests"):
            await http.get(f"{base_url}/page")
    finally:
        await http.aclose()
    assert http.requests == 3


async def test_bodies_over_the_cap_are_refused(base_url: str, script: Script, sleeps: Sleeps) -> None:
    script.replies["/big"] = [(200, {}, b"x" * 20_000)]
    http = client(sleeps)
    try:
        with pytest.raises(ResponseTooLarge, match="is 20 kB, over the 10 kB limit"):
            await http.get(f"{base_url}/big")  # announced
        with pytest.raises(ResponseTooLarge, match="/endless is over the 10 kB limit"):
            await http.get(f"{base_url}/endless")  # counted
    finally:
        await http.aclose()


async def test_cancellation_is_not_swallowed(base_url: str, script: Script) -> None:
    script.replies["/stuck"] = [(503, {"Retry-After": "30"}, b"")]
    waiting = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        waiting.set()
        await asyncio.sleep(seconds)

    http = SourceHttp(max_requests=10, max_bytes=10_000, trust_env=False, sleep=slow_sleep)
    try:
        task = asyncio.create_task(http.get(f"{base_url}/stuck"))
        await asyncio.wait_for(waiting.wait(), timeout=5)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done and task.cancelled(), "the cancellation went through, not swallowed"
    finally:
        task.cancel()
        await http.aclose()
    assert http.requests == 1


async def test_no_secret_in_logs_or_errors(base_url: str, script: Script, sleeps: Sleeps) -> None:
    script.replies["/private"] = [(503, {}, b"")]
    http = client(sleeps, headers={"Authorization": f"Bearer {SECRET}"}, retry=RetryPolicy(attempts=2))
    try:
        with capture_logs() as logs, pytest.raises(ConnectorError) as raised:
            await http.get(f"{base_url}/private?api_key={SECRET}", headers={"X-Api-Key": SECRET})
    finally:
        await http.aclose()

    assert logs, "a retry is logged"
    assert SECRET not in str(raised.value)
    assert SECRET not in repr(logs)
    assert any(headers.get("Authorization") == f"Bearer {SECRET}" for _, headers in script.seen)  # it was sent
