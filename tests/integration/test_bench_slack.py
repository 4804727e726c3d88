"""``threadwise bench slack`` as a user runs it: a real server, the stand-ins for Slack and the LLM, every answer
counted once."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from bot.bench.slack import BENCH_COLLECTION, BENCH_EVENT_PREFIX, BENCH_TEAM, CHURNED_TABLES, GUIDE
from bot.events import ChatEvent
from bot.queue import JobQueue, dedupe_key
from knowledge.documents import SourceDocument
from knowledge.service import KnowledgeBase
from tests.conftest import database_settings_for_tests
from tests.integration.helpers.cli import run

pytestmark = pytest.mark.slow  # each test runs `threadwise bench slack`: a server and a load run


async def vacuums(database_url: URL) -> dict[str, int]:
    """How many times each table the benchmark churns has been vacuumed by hand (autovacuum counts apart)."""
    async with await JobQueue.connect(database_url, role="tests", database=database_settings_for_tests()) as queue:
        rows = await queue.pool.fetch(
            "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = ANY($1)",
            [table.strip() for table in CHURNED_TABLES.split(",")],
        )
    counts = {row["relname"]: int(row["vacuum_count"]) for row in rows}
    assert set(counts) == {"conversations", "messages", "pgqueuer", "processed_events"}
    return counts


async def test_bench_slack_answers_every_mention_once(
    database_url: URL, database_url_text: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url_text, "APP_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "server.jsonl"
    vacuums_before = await vacuums(database_url)
    result = await asyncio.to_thread(
        run, "bench", "slack", "--events", "20", "--concurrency", "5", "--workers", "2", "--server-log", str(log),
        "--json", **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert (figures["answered"], figures["failed_acks"], figures["lost"], figures["duplicated"]) == (20, 0, 0, 0)
    assert 0 < figures["ack_ms"]["p50"] <= figures["ack_ms"]["p99"]
    assert figures["answers_per_second"] > 0 and figures["server_peak_rss_mb"] > 100
    assert log.read_text().count('"event": "answer delivered"') == 20 + 5  # the warm-up sends as many as are in flight
    async with await JobQueue.connect(
        database_url, role="tests", database=database_settings_for_tests()
    ) as queue:  # the run's conversations are gone
        assert await queue.pool.fetchval("SELECT count(*) FROM conversations WHERE tenant = 'TBENCH'") == 0
        assert await queue.pool.fetchval("SELECT count(*) FROM collections WHERE tenant = 'TBENCH'") == 0
        left = "SELECT count(*) FROM processed_events WHERE starts_with(event_id, $1)"
        assert await queue.pool.fetchval(left, BENCH_EVENT_PREFIX) == 0
    after = await vacuums(database_url)
    assert all(after[table] == vacuums_before[table] + 1 for table in after), (vacuums_before, after)


async def test_bench_slack_searches_one_document_whatever_earlier_runs_left(
    kb: KnowledgeBase, database_url_text: str, tmp_path: Path
) -> None:
    """A collection left by an interrupted run (another copy of the guide in it) is replaced, then dropped."""
    await kb.add_documents(
        [SourceDocument(source_uri="tmp123/security.md", title="Security guide", text=GUIDE)],
        tenant=BENCH_TEAM,
        collection=BENCH_COLLECTION,
    )
    env = {"DATABASE_URL": database_url_text, "APP_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "server.jsonl"
    result = await asyncio.to_thread(
        run, "bench", "slack", "--events", "5", "--concurrency", "5", "--workers", "2", "--server-log", str(log),
        **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    delivered = [json.loads(line) for line in log.read_text().splitlines() if '"answer delivered"' in line]
    assert len(delivered) == 10 and all(line["retrieval_hits"] == 1 for line in delivered)
    assert await kb.collections(tenant=BENCH_TEAM) == []


async def test_bench_slack_refuses_a_queue_with_questions_waiting(
    database_url: URL, database_url_text: str, tmp_path: Path
) -> None:
    async with await JobQueue.connect(database_url, role="tests", database=database_settings_for_tests()) as queue:
        event = ChatEvent(
            platform="slack", event_id=f"Ev{uuid.uuid4().hex}", tenant="TBENCH", channel="C1", thread="1.1",
            user_id="U1", message_id="1.1", text="a question nobody answered",
        )  # fmt: skip
        await queue.enqueue(event)
        try:
            env = {"DATABASE_URL": database_url_text, "APP_DATA_DIR": str(tmp_path / "data")}
            result = await asyncio.to_thread(run, "bench", "slack", "--events", "5", **env)
        finally:
            await queue.pool.execute("DELETE FROM pgqueuer WHERE dedupe_key = $1", dedupe_key(event))
    assert result.returncode == 1
    assert "1 question is waiting in this database's queue" in result.stderr
