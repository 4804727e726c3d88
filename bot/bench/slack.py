"""``threadwise bench slack``: signed mentions against a real ``threadwise serve`` (Slack and the LLM stood in
for on 127.0.0.1); HTTP ack latency, answers per second, lost and duplicated answers, the server's peak memory."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.bench.stand_ins import SlackStandIn, instant_llm, slack_stand_in
from knowledge.evaluation.metrics import percentile
from knowledge.service import KnowledgeBase

BENCH_TEAM = "TBENCH"
SIGNING_SECRET = "bench-signing-secret-0123456789"  # noqa: S105 — only ever sent to our own server on 127.0.0.1
GUIDE = """# Security guide

## Rotate the signing key

Open the admin console, choose Security, and press Rotate. Old tokens stop working after one hour.
"""

Progress = Callable[[str, int, int], None]


@dataclass
class SlackBenchmark:
    events: int
    concurrency: int
    ack_ms: dict[str, float]
    answers_per_second: float
    answered: int
    lost: int
    duplicated: int
    server_peak_rss_mb: float
    seconds: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signed(body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}


def _mention(index: int) -> tuple[str, str]:
    ts = f"{int(time.time())}.{index:06d}"
    event = {
        "type": "app_mention",
        "user": f"U{index % 50:04d}",
        "text": "<@UBENCHBOT> how do I rotate the signing key?",
        "ts": ts,
        "channel": f"C{index % 20:04d}",
    }
    envelope = {"type": "event_callback", "team_id": BENCH_TEAM, "event_id": f"Ev{uuid.uuid4().hex}", "event": event}
    return ts, json.dumps(envelope)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


READY_WITHIN_SECONDS = 180


async def _wait_ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"threadwise serve exited with {server.returncode} before it was ready")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.25)
    raise RuntimeError("threadwise serve was not ready within 3 minutes")


async def bench_slack(
    kb: KnowledgeBase, *, events: int, concurrency: int, workers: int, progress: Progress
) -> SlackBenchmark:
    with tempfile.TemporaryDirectory() as folder:  # unchanged on later runs: the ingest is then a no-op
        (Path(folder) / "security.md").write_text(GUIDE)
        await kb.ingest([folder], tenant=BENCH_TEAM, collection="bench-slack")
    with slack_stand_in() as (slack, api_url), instant_llm() as llm_url:
        port = _free_port()
        env = os.environ | {
            "SLACK_BOT_TOKEN": "xoxb-bench-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": api_url,
            "LLM_MODEL": "openai:instant",
            "LLM_BASE_URL": llm_url,
            "AGENT_MIN_SIMILARITY": "-1",
            "QUEUE_CONCURRENCY": str(workers),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }
        env.pop("SLACK_APP_TOKEN", None)
        command = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        # Our own CLI with fixed arguments; started once, so a blocking spawn is fine here.
        server = subprocess.Popen(  # noqa: S603, ASYNC220
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
                progress("starting threadwise serve", 0, 1)
                await _wait_ready(client, server)
                return await _run(client, slack, server.pid, events, concurrency, progress)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


async def _run(
    client: httpx.AsyncClient, slack: SlackStandIn, pid: int, events: int, concurrency: int, progress: Progress
) -> SlackBenchmark:
    gate = asyncio.Semaphore(concurrency)
    acks: list[float] = []
    sent: set[str] = set()
    failures = 0

    async def send(index: int) -> None:
        nonlocal failures
        ts, body = _mention(index)
        async with gate:
            tick = time.perf_counter()
            response = await client.post("/slack/events", content=body, headers=_signed(body))
            acks.append((time.perf_counter() - tick) * 1000)
        if response.status_code == 200:
            sent.add(ts)
        else:
            failures += 1
        progress("sending mentions", len(acks), events)

    started = time.perf_counter()
    await asyncio.gather(*(send(i) for i in range(events)))
    last_answer = time.perf_counter()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        answered = set(slack.answered_threads()) & sent
        progress("answers posted", len(answered), len(sent))
        if len(answered) == len(sent):
            last_answer = time.perf_counter()
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # anything posted twice shows up now
    counts = Counter(t for t in slack.answered_threads() if t in sent)
    answered = set(counts)
    elapsed = last_answer - started
    return SlackBenchmark(
        events=events,
        concurrency=concurrency,
        ack_ms={"p50": round(percentile(acks, 50), 1), "p99": round(percentile(acks, 99), 1)},
        answers_per_second=round(len(answered) / elapsed, 1) if elapsed > 0 else 0.0,
        answered=len(answered),
        lost=events - len(answered),
        duplicated=sum(n - 1 for n in counts.values()),
        server_peak_rss_mb=round(_peak_rss_mb(pid), 1),
        seconds=round(elapsed, 1),
    )
