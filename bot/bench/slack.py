"""``threadwise bench slack``: signed mentions against a real ``threadwise serve`` (Slack and the LLM stood in
for on 127.0.0.1); HTTP ack latency, answers per second, lost and duplicated answers, the server's peak memory."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from agent.conversation_purge import delete_conversations
from bot.bench import BenchmarkError, free_port, stop_process
from bot.bench.stand_ins import StandIns, stand_ins
from bot.queue import JobQueue
from core.db import session_scope, vacuum_analyze
from core.logging import get_logger
from core.settings import DatabaseSettings
from evals.toolkit.progress import Progress
from evals.toolkit.stats import percentile
from knowledge.documents import SourceDocument
from knowledge.service import KnowledgeBase

log = get_logger(__name__)

BENCH_TEAM = "TBENCH"
BENCH_COLLECTION = "bench-slack"
BENCH_EVENT_PREFIX = "EvBENCH"
CHURNED_TABLES = "pgqueuer, processed_events, conversations, messages"
"""Tables in which a run leaves dead rows: its jobs, its events' progress (updated three times each), its
conversations and their messages."""
SIGNING_SECRET = "bench-signing-secret-0123456789"  # noqa: S105 — only ever sent to our own server on 127.0.0.1
GUIDE = """# Security guide

## Rotate the signing key

Open the admin console, choose Security, and press Rotate. Old tokens stop working after one hour.
"""

GUIDE_DOCUMENT = SourceDocument(source_uri="bench://slack/security.md", title="Security guide", text=GUIDE)


@dataclass
class SlackBenchmark:
    events: int
    concurrency: int
    ack_ms: dict[str, float]
    """After the warm-up: p50 and p99."""
    warm_up_ack_ms: dict[str, float]
    """The first ``concurrency`` mentions, sent at once to a server that has just started: p50 and max."""
    answers_per_second: float
    answered: int
    """Measured mentions answered (the warm-up's are waited for before the measured ones are sent)."""
    failed_acks: int
    """Mentions the server did not accept with a 200 (Slack would send them again)."""
    lost: int
    """Mentions (warm-up included) accepted with a 200 but never answered."""
    duplicated: int
    server_peak_rss_mb: float
    seconds: float
    slack_calls: dict[str, int]
    """The server's calls to the stand-in Slack by method, warm-up included: how the answers were shown while
    written (streamed, or edited) and posted."""


def signed(body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}


def mention(index: int) -> tuple[str, str]:
    ts = f"{int(time.time())}.{index:06d}"
    event = {
        "type": "app_mention",
        "user": f"U{index % 50:04d}",
        "text": "<@UBENCHBOT> how do I rotate the signing key?",
        "ts": ts,
        "channel": f"C{index % 20:04d}",
    }
    event_id = f"{BENCH_EVENT_PREFIX}{uuid.uuid4().hex}"
    envelope = {"type": "event_callback", "team_id": BENCH_TEAM, "event_id": event_id, "event": event}
    return ts, json.dumps(envelope)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


READY_WITHIN_SECONDS = 180
ANSWERS_WITHIN_SECONDS = 300
ACK_TIMEOUT_SECONDS = 30


async def wait_ready(client: aiohttp.ClientSession, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchmarkError(f"threadwise serve exited with {server.returncode} before it was ready")
        try:
            async with client.get("/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.25)
    raise BenchmarkError("threadwise serve was not ready within 3 minutes")


async def refuse_a_busy_queue(kb: KnowledgeBase, database: DatabaseSettings | None) -> None:
    """Questions already waiting would be answered first, by the benchmark's server, and counted in its time."""
    async with await JobQueue.connect(kb.engine.url, role="bench", database=database) as queue:
        waiting = await queue.depth()
    if waiting:
        raise BenchmarkError(
            f"{waiting} {'question is' if waiting == 1 else 'questions are'} waiting in this database's queue; the "
            "benchmark's server would answer them too and the figures would be wrong. Let a worker answer them "
            "(threadwise serve) or use another database."
        )


async def drop_bench_collection(kb: KnowledgeBase) -> None:
    if any(collection.name == BENCH_COLLECTION for collection in await kb.collections(tenant=BENCH_TEAM)):
        await kb.delete_collection(tenant=BENCH_TEAM, name=BENCH_COLLECTION)


async def clean_up(kb: KnowledgeBase) -> None:
    """Each run leaves a conversation per mention (its messages and votes go with it), a processed event per
    mention and its one-document collection: none is kept past the run (a mention not yet answered keeps its
    processed event).

    Then the tables the run churned are vacuumed, so that the next run starts where this one did. Autovacuum
    would do it in a server that stays up, but an embedded server started for one command seldom lives to its
    first pass (a minute after start). Runs on this machine had left 151,662 dead rows in ``pgqueuer`` beside 448
    live ones (96 MB); pgqueuer's count of queued work, run about 120 times per 1,000 answers, took 9.1 ms at the
    median (PostgreSQL's own timing) and 0.03 ms once vacuumed."""
    async with session_scope(kb.sessionmaker) as session:
        await delete_conversations(session, tenant=BENCH_TEAM)
        # Delivered ones only: a question still queued (a run cut short) keeps its progress for the worker that
        # answers it later.
        await session.execute(
            text(
                "DELETE FROM processed_events WHERE platform = 'slack' AND starts_with(event_id, :prefix) "
                "AND delivered_at IS NOT NULL"
            ),
            {"prefix": BENCH_EVENT_PREFIX},
        )
    await drop_bench_collection(kb)
    try:
        await vacuum_analyze(kb.engine, CHURNED_TABLES, skip_locked=True)
    except SQLAlchemyError as error:  # the figures stand; the next run may be a little slower
        log.warning("could not vacuum after the run", tables=CHURNED_TABLES, exc_info=error)


async def bench_slack(
    kb: KnowledgeBase,
    *,
    events: int,
    concurrency: int,
    workers: int,
    progress: Progress,
    server_log: Path | None = None,
    database: DatabaseSettings | None = None,
) -> SlackBenchmark:
    """``server_log``: where the server's log goes (JSON lines at INFO); by default it is discarded. ``database``:
    how ``kb``'s server is reached (its pooler's mode)."""
    await refuse_a_busy_queue(kb, database)
    # Made afresh, so every run searches the same one document whatever earlier runs left behind.
    await drop_bench_collection(kb)
    await kb.add_documents([GUIDE_DOCUMENT], tenant=BENCH_TEAM, collection=BENCH_COLLECTION)
    with stand_ins() as outside:
        port = free_port()
        env = server_env(outside, concurrency=workers, log=server_log is not None)
        command = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        log_file = server_log.open("w") if server_log else None
        # Our own CLI with fixed arguments; started once, so a blocking spawn is fine here.
        server = subprocess.Popen(  # noqa: S603, ASYNC220
            command, env=env, stdout=subprocess.DEVNULL, stderr=log_file or subprocess.DEVNULL
        )
        try:
            # aiohttp rather than httpx: at 50 requests in flight httpx spent about 5 ms of CPU per request here,
            # aiohttp 0.25 ms, and the client shares the machine's two cores with the server it measures.
            connector = aiohttp.TCPConnector(limit=concurrency)
            timeout = aiohttp.ClientTimeout(total=ACK_TIMEOUT_SECONDS)
            async with aiohttp.ClientSession(
                base_url=f"http://127.0.0.1:{port}", connector=connector, timeout=timeout
            ) as client:
                progress("starting threadwise serve", 0, 1)
                await wait_ready(client, server)
                return await _run(client, outside, server.pid, events, concurrency, progress)
        finally:
            stop_process(server, within=30)
            if log_file:
                log_file.close()
            await clean_up(kb)


def server_env(outside: StandIns, *, concurrency: int, log: bool) -> dict[str, str]:
    """The environment of a ``threadwise serve`` the benchmarks start: this one's, with Slack and the LLM stood in
    for and the per-person limits off."""
    env = os.environ | {
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": outside.slack_api_url,
        "LLM_MODEL": "openai:instant",
        "LLM_BASE_URL": outside.llm_url,
        "AGENT_MIN_SIMILARITY": "-1",
        "QUEUE_CONCURRENCY": str(concurrency),
        # Thousands of questions a minute from 50 users in 20 channels of one team: off, as an operator
        # load-testing their own bot would set them (and no statements for them on the measured path).
        "LIMITS_USER_PER_MINUTE": "0",
        "LIMITS_CHANNEL_PER_MINUTE": "0",
        "LIMITS_TENANT_CONCURRENT": "0",
        "LOG_LEVEL": "INFO" if log else "WARNING",
        "LOG_FORMAT": "json",
    }
    env.pop("SLACK_APP_TOKEN", None)
    return env


class Finals:
    """The thread of every final answer the stand-in Slack received, fetched as they arrive."""

    def __init__(self, client: aiohttp.ClientSession, url: str) -> None:
        self.client = client
        self.url = url
        self.threads: list[str] = []

    async def fetch(self) -> list[str]:
        async with self.client.get(self.url, params={"after": len(self.threads)}) as response:
            self.threads += await response.json()
        return self.threads


@dataclass
class _Round:
    acks: list[float]
    sent: set[str]
    """Thread ts of every mention accepted with a 200."""
    failed: int
    seconds: float
    """From the first mention sent to the last answer posted, or to the deadline."""


async def _send_and_wait(
    client: aiohttp.ClientSession,
    finals: Finals,
    mentions: list[tuple[str, str]],
    concurrency: int,
    progress: Progress,
    label: str,
) -> _Round:
    gate = asyncio.Semaphore(concurrency)
    acks: list[float] = []
    sent: set[str] = set()
    failed = 0

    async def send(ts: str, body: str) -> None:
        nonlocal failed
        async with gate:
            tick = time.perf_counter()
            try:
                async with client.post("/slack/events", data=body, headers=signed(body)) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            acks.append((time.perf_counter() - tick) * 1000)
        if status == 200:
            sent.add(ts)
        else:
            failed += 1
        progress(f"{label}: sending mentions", len(acks), len(mentions))

    started = time.perf_counter()
    await asyncio.gather(*(send(ts, body) for ts, body in mentions))
    deadline = time.monotonic() + ANSWERS_WITHIN_SECONDS
    while time.monotonic() < deadline:
        answered = set(await finals.fetch()) & sent
        progress(f"{label}: answers posted", len(answered), len(sent))
        if len(answered) == len(sent):
            break
        await asyncio.sleep(0.05)
    # To the last answer, or to the deadline when some never came (a rate over the sending time alone would
    # flatter a run that lost answers).
    return _Round(acks=acks, sent=sent, failed=failed, seconds=time.perf_counter() - started)


async def _run(
    client: aiohttp.ClientSession, outside: StandIns, pid: int, events: int, concurrency: int, progress: Progress
) -> SlackBenchmark:
    # Built beforehand: only the requests themselves are timed.
    warm_up = [mention(i) for i in range(concurrency)]
    # This process holds the knowledge base's modules and model too: out of the collector's sight, so that a full
    # collection here does not pause the client in the middle of timing a request.
    gc.collect()
    gc.freeze()
    mentions = [mention(i) for i in range(concurrency, concurrency + events)]
    finals = Finals(client, outside.slack_finals_url)
    first = await _send_and_wait(client, finals, warm_up, concurrency, progress, "warm-up")
    measured = await _send_and_wait(client, finals, mentions, concurrency, progress, "measured")
    await asyncio.sleep(2.0)  # anything posted twice shows up now
    sent = first.sent | measured.sent
    counts = Counter(t for t in await finals.fetch() if t in sent)
    async with client.get(outside.slack_calls_url) as response:
        slack_calls = dict(sorted((await response.json()).items()))
    answered = len(set(counts) & measured.sent)
    return SlackBenchmark(
        events=events,
        concurrency=concurrency,
        ack_ms={"p50": round(percentile(measured.acks, 50), 1), "p99": round(percentile(measured.acks, 99), 1)},
        warm_up_ack_ms={"p50": round(percentile(first.acks, 50), 1), "max": round(max(first.acks), 1)},
        answers_per_second=round(answered / measured.seconds, 1) if measured.seconds > 0 else 0.0,
        answered=answered,
        failed_acks=first.failed + measured.failed,
        lost=len(sent) - len(counts),
        duplicated=sum(n - 1 for n in counts.values()),
        server_peak_rss_mb=round(peak_rss_mb(pid), 1),
        seconds=round(measured.seconds, 1),
        slack_calls=slack_calls,
    )
