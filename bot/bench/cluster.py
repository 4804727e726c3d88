"""``threadwise bench cluster``: Threadwise as replicas on this machine, through faults.

Web and worker processes of ``threadwise serve`` (optionally behind PgBouncer in transaction mode) answer signed
Slack mentions sent through every web replica at a steady rate, while one worker and one web replica are killed
with SIGKILL and PostgreSQL restarts with a fast shutdown. A mention that a replica does not accept is sent again
as Slack would, through a load balancer that routes around a killed replica after a few seconds. What counts is
what the stand-in Slack saw: every accepted mention answered once, and how long after the last fault the last
answer came.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import aiohttp
from sqlalchemy.engine import URL

from bot.bench import BenchmarkError, free_port, stop_process
from bot.bench.pgbouncer import pgbouncer
from bot.bench.slack import (
    BENCH_COLLECTION,
    BENCH_TEAM,
    GUIDE_DOCUMENT,
    Finals,
    clean_up,
    drop_bench_collection,
    mention,
    refuse_a_busy_queue,
    server_env,
    signed,
    wait_ready,
)
from bot.bench.stand_ins import stand_ins
from core.settings import DatabaseSettings
from evals.toolkit.progress import Progress
from evals.toolkit.stats import percentile
from knowledge.service import KnowledgeBase

RETRY_DELAYS = (1.0, 5.0, 30.0)
"""Seconds before Slack sends an event again after a failed or missing acknowledgement (Slack waits 0, 1 and 5
minutes; shortened so that a run takes minutes)."""
ROUTED_AROUND_AFTER_SECONDS = 5.0
"""How long requests still go to a killed web replica: Kubernetes takes a pod whose process died out of its
Service's endpoints within seconds (a load balancer with health checks, after its next failed check)."""
STALLED_AFTER_SECONDS = 10
"""QUEUE_STALLED_AFTER_SECONDS of the workers: how soon a killed worker's questions go to another."""
ANSWERS_WITHIN_SECONDS = 180
"""How long after the last mention is sent the run waits for answers before it counts the rest as lost."""
DUPLICATES_WITHIN_SECONDS = 3.0
"""How long after the last answer the run goes on watching for an answer posted twice."""
WORKER_CONCURRENCY = 4
LOST_IDS_SHOWN = 20


@dataclass
class ClusterBenchmark:
    web: int
    workers: int
    pgbouncer: bool
    events: int
    accepted: int
    """Mentions a web replica acknowledged with a 200, on the first try or a retry."""
    not_accepted: int
    """Mentions no replica acknowledged within Slack's retries: Slack gives up on them."""
    retried: int
    """Mentions sent more than once."""
    answered: int
    lost: int
    """Accepted but never answered."""
    lost_event_ids: list[str]
    """The Slack event ids of the first lost ones, to find in the replicas' logs."""
    duplicated: int
    """Answers posted more than once to the same thread, beyond the first."""
    ack_ms: dict[str, float]
    """Of the acknowledged requests: p50, p99."""
    faults: list[str]
    seconds_from_last_fault_to_last_answer: float
    seconds: float
    """From the first mention sent to the last answer."""


@dataclass
class _Replica:
    role: str
    index: int
    port: int
    process: subprocess.Popen[bytes]
    killed_at: float | None = None
    """``time.monotonic()`` when the run killed it."""

    def routed_to(self) -> bool:
        """Whether the load balancer still sends requests here."""
        return self.killed_at is None or time.monotonic() - self.killed_at < ROUTED_AROUND_AFTER_SECONDS

    def kill(self) -> None:
        self.killed_at = time.monotonic()
        self.process.kill()

    @property
    def name(self) -> str:
        return f"{self.role} {self.index + 1}"


@dataclass
class _Run:
    started: float = field(default_factory=time.monotonic)
    acks: list[float] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    not_accepted: int = 0
    retried: int = 0
    faults: list[tuple[float, str]] = field(default_factory=list)

    def at(self) -> float:
        return time.monotonic() - self.started


def _start(role: str, index: int, env: dict[str, str], log_dir: Path | None) -> tuple[_Replica, IO[bytes] | None]:
    port = free_port()
    command = [sys.executable, "-m", "bot.cli", "serve", "--role", role, "--host", "127.0.0.1", "--port", str(port)]
    log = (log_dir / f"{role}-{index + 1}.log").open("wb") if log_dir else None
    # Our own CLI with fixed arguments; a handful of processes started once per run.
    process = subprocess.Popen(  # noqa: S603
        command, env=env, stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL
    )
    return _Replica(role, index, port, process), log


async def _send(http: aiohttp.ClientSession, webs: list[_Replica], index: int, ts: str, body: str, run: _Run) -> None:
    for attempt in range(len(RETRY_DELAYS) + 1):
        retry: dict[str, str] = {}
        if attempt:
            run.retried += attempt == 1
            await asyncio.sleep(RETRY_DELAYS[attempt - 1])
            retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_error"}
        headers = signed(body) | retry  # signed when sent: Slack's signature carries the time
        routed = [replica for replica in webs if replica.routed_to()]
        replica = routed[(index + attempt) % len(routed)]
        tick = time.perf_counter()
        try:
            url = f"http://127.0.0.1:{replica.port}/slack/events"
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            run.acks.append((time.perf_counter() - tick) * 1000)
            run.accepted.add(ts)
            return
    run.not_accepted += 1


async def _faults(
    webs: list[_Replica],
    workers: list[_Replica],
    restart_postgres: Callable[[], None],
    window: float,
    run: _Run,
    progress: Progress,
) -> None:
    """One worker killed at a quarter of the sending window, one web replica at half, PostgreSQL restarted at three
    quarters."""
    plan: list[tuple[float, str, Callable[[], None]]] = [
        (0.25, f"SIGKILL {workers[0].name}", workers[0].kill),
        (0.5, f"SIGKILL {webs[0].name}", webs[0].kill),
        (0.75, "PostgreSQL restarted (fast shutdown)", restart_postgres),
    ]
    for share, description, act in plan:
        await asyncio.sleep(max(0.0, run.started + share * window - time.monotonic()))
        progress(f"fault: {description}", len(run.faults), len(plan))
        began = run.at()
        await asyncio.to_thread(act)
        run.faults.append((began, f"{began:.1f} s: {description}"))


async def bench_cluster(
    kb: KnowledgeBase,
    *,
    server_url: URL,
    restart_postgres: Callable[[], None],
    events: int,
    rate: float,
    web: int,
    workers: int,
    use_pgbouncer: bool,
    progress: Progress,
    log_dir: Path | None = None,
) -> ClusterBenchmark:
    """``server_url``: the PostgreSQL of ``kb``, which ``restart_postgres`` restarts. ``rate``: mentions a second."""
    if web < 2 or workers < 2:
        raise BenchmarkError("a cluster run kills one web replica and one worker: start at least 2 of each")
    await refuse_a_busy_queue(kb, DatabaseSettings())
    await drop_bench_collection(kb)
    await kb.add_documents([GUIDE_DOCUMENT], tenant=BENCH_TEAM, collection=BENCH_COLLECTION)
    if log_dir:
        await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    logs: list[IO[bytes] | None] = []
    replicas: list[_Replica] = []
    try:
        with stand_ins() as outside, pgbouncer(server_url) if use_pgbouncer else nullcontext(server_url) as app_url:
            env = server_env(outside, concurrency=WORKER_CONCURRENCY, log=log_dir is not None) | {
                "DATABASE_URL": app_url.render_as_string(hide_password=False),
                "QUEUE_STALLED_AFTER_SECONDS": str(STALLED_AFTER_SECONDS),
            }
            if use_pgbouncer:
                env |= {
                    "DATABASE_POOL_MODE": "transaction",
                    "DATABASE_LISTEN_URL": server_url.render_as_string(hide_password=False),
                }
            for role, count in (("web", web), ("worker", workers)):
                for index in range(count):
                    replica, log = _start(role, index, env, log_dir)
                    replicas.append(replica)
                    logs.append(log)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                for number, replica in enumerate(replicas):
                    progress("starting the replicas", number, len(replicas))
                    async with aiohttp.ClientSession(
                        base_url=f"http://127.0.0.1:{replica.port}", timeout=aiohttp.ClientTimeout(total=5)
                    ) as probe:
                        await wait_ready(probe, replica.process)
                webs = [replica for replica in replicas if replica.role == "web"]
                working = [replica for replica in replicas if replica.role == "worker"]
                return await _run(
                    http,
                    outside.slack_finals_url,
                    webs,
                    working,
                    restart_postgres,
                    events=events,
                    rate=rate,
                    use_pgbouncer=use_pgbouncer,
                    progress=progress,
                )
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                stop_process(replica.process, within=30)
        for log in logs:
            if log:
                log.close()
        await kb.engine.dispose()  # its connections did not survive the restart
        await clean_up(kb)


async def _run(
    http: aiohttp.ClientSession,
    finals_url: str,
    webs: list[_Replica],
    workers: list[_Replica],
    restart_postgres: Callable[[], None],
    *,
    events: int,
    rate: float,
    use_pgbouncer: bool,
    progress: Progress,
) -> ClusterBenchmark:
    mentions = [mention(index) for index in range(events)]
    window = events / rate
    run = _Run()
    faults = asyncio.create_task(_faults(webs, workers, restart_postgres, window, run, progress))
    sending: list[asyncio.Task[None]] = []
    for index, (ts, body) in enumerate(mentions):
        await asyncio.sleep(max(0.0, run.started + index / rate - time.monotonic()))
        sending.append(asyncio.create_task(_send(http, webs, index, ts, body, run)))
        progress("sending mentions", index + 1, events)
    await faults
    await asyncio.gather(*sending)
    finals = Finals(http, finals_url)
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + ANSWERS_WITHIN_SECONDS
    while time.monotonic() < deadline:
        for thread in await finals.fetch():
            if thread in run.accepted:
                arrived.setdefault(thread, run.at())
        progress("answers posted", len(arrived), len(run.accepted))
        if len(arrived) == len(run.accepted):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(DUPLICATES_WITHIN_SECONDS)
    counts = Counter(thread for thread in await finals.fetch() if thread in run.accepted)
    event_ids = {ts: json.loads(body)["event_id"] for ts, body in mentions}
    lost = sorted(event_ids[ts] for ts in run.accepted - set(counts))
    last_answer = max(arrived.values(), default=run.at())
    last_fault = max(began for began, _ in run.faults)
    return ClusterBenchmark(
        web=len(webs),
        workers=len(workers),
        pgbouncer=use_pgbouncer,
        events=events,
        accepted=len(run.accepted),
        not_accepted=run.not_accepted,
        retried=run.retried,
        answered=len(counts),
        lost=len(lost),
        lost_event_ids=lost[:LOST_IDS_SHOWN],
        duplicated=sum(count - 1 for count in counts.values()),
        ack_ms={"p50": round(percentile(run.acks, 50), 1), "p99": round(percentile(run.acks, 99), 1)},
        faults=[description for _, description in run.faults],
        seconds_from_last_fault_to_last_answer=round(last_answer - last_fault, 1),
        seconds=round(last_answer, 1),
    )
