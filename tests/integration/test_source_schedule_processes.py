"""Scheduled syncs across processes: worker processes running the real schedule (pgqueuer's scheduler, ticking
every second here) on one database, and a fake website on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from knowledge.embeddings import LocalEmbedder
from knowledge.sources.store import STALE_RUN
from tests.conftest import REPO_ROOT
from tests.fakes.website import serving_website
from tests.integration.helpers.queue import until
from tests.integration.helpers.source_schedule import (
    START_PAGE,
    HeldWebsite,
    add_site,
    move_last_run_back,
    own_engine,
    schedule_database,
    sources_on,
    status,
)

__all__ = ["own_engine", "schedule_database"]  # fixtures used below

pytestmark = pytest.mark.slow  # each test starts worker processes and watches several intervals

INTERVAL = 3
"""Seconds between a source's runs (the command line allows 5 minutes at least; the store takes any)."""
RUNS = 4
"""Runs watched after the first (which loads the embedder, so it takes longer than the others)."""
TICK_LATENCY = 3.0
"""How late after its due time a run may start: a tick each second, each process looking for one every one to two
seconds (and a loaded machine)."""


@dataclass
class TimedWebsite(HeldWebsite):
    """Notes when each run starts (its request for the start page), by this process's clock."""

    starts: list[float] = field(default_factory=list)

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        if urlsplit(handler.path).path == START_PAGE:
            self.starts.append(time.monotonic())
        super().respond(handler)


@contextmanager
def worker(database_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process's schedule (``tests/integration/helpers/source_worker.py``); SIGTERM on the way out unless
    the test killed it."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.helpers.source_worker", "--grace", "2"],
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def taking_ticks(process: subprocess.Popen[bytes], log: Path) -> Callable[[], bool]:
    def check() -> bool:
        assert process.poll() is None, f"the worker exited ({process.returncode}):\n{log.read_text()[-3000:]}"
        return "source schedule started" in log.read_text()

    return check


def database_url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def test_two_worker_processes_run_a_scheduled_source_once_per_interval(
    own_engine: AsyncEngine, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    sources = sources_on(own_engine, embedder)
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    site = TimedWebsite(pages=2)
    with (
        serving_website(site),
        worker(database_url(own_engine), logs[0]) as first,
        worker(database_url(own_engine), logs[1]) as second,
    ):
        await until(taking_ticks(first, logs[0]), "the first worker's schedule", 60)
        await until(taking_ticks(second, logs[1]), "the second worker's schedule", 60)
        await add_site(sources, site, every=INTERVAL)
        await until(lambda: len(site.starts) > RUNS, f"{RUNS + 1} runs", 20 + RUNS * (INTERVAL + TICK_LATENCY))
        assert first.poll() is None and second.poll() is None
        await asyncio.sleep(0.5)  # the last run's end
    after = await status(sources)

    gaps = [later - earlier for earlier, later in pairwise(site.starts)]
    assert len(gaps) >= RUNS
    # Each interval's run ran once: never two within an interval, and none missed (after the first run, which
    # loads the embedder and may outlast its interval).
    assert all(gap >= INTERVAL - 0.3 for gap in gaps), gaps
    assert all(gap <= INTERVAL + TICK_LATENCY for gap in gaps[1:]), gaps
    assert (after.state, after.failures, after.last_error) == ("idle", 0, None)
    assert after.items == len(site.allowed_pages(max_depth=1))
    # Every run the site saw was one of the workers', finished and logged once.
    synced = [log.read_text().count('"source synced"') for log in logs]
    assert sum(synced) == len(site.starts), synced


async def test_a_run_killed_with_its_process_is_taken_over_once_it_is_stale(
    own_engine: AsyncEngine, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    sources = sources_on(own_engine, embedder)
    doomed_log, survivor_log = tmp_path / "doomed.log", tmp_path / "survivor.log"
    site = HeldWebsite(pages=2)
    with serving_website(site):
        try:
            await add_site(sources, site, every=3600)
            site.hold("/docs/page-0.html")  # the first run is in the middle of the site when its process dies
            with worker(database_url(own_engine), doomed_log) as doomed:
                await until(taking_ticks(doomed, doomed_log), "the first worker's schedule", 60)
                await until(lambda: bool(site.held), "the first run reaching page 0", 30)
                with worker(database_url(own_engine), survivor_log) as survivor:
                    await until(taking_ticks(survivor, survivor_log), "the second worker's schedule", 60)
                    doomed.send_signal(signal.SIGKILL)
                    doomed.wait(timeout=10)
                    killed = await status(sources)
                    runs = site.runs_started()
                    await asyncio.sleep(3)  # three ticks: the run may still be alive for all anyone knows
                    assert site.runs_started() == runs
                    assert (await status(sources)).state == "running"

                    await move_last_run_back(sources, STALE_RUN)  # two hours on
                    await until(lambda: site.runs_started() == runs + 1, "the run taken over", 20)
                    for _ in range(100):
                        if (finished := await status(sources)).state != "running":
                            break
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(2)  # two more ticks: taken over once
                    assert site.runs_started() == runs + 1
        finally:
            site.release_all()

    assert doomed.returncode == -signal.SIGKILL
    assert (killed.state, killed.last_success_at) == ("running", None)
    assert (finished.state, finished.failures, finished.last_error) == ("idle", 0, None)
    assert finished.last_success_at is not None and finished.items == len(site.allowed_pages(max_depth=1))
    assert "the source's last run died unfinished" in survivor_log.read_text()
    assert "source synced" not in doomed_log.read_text()
