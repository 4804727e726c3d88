"""``threadwise bench slack`` as a user runs it: a real server, the stand-ins for Slack and the LLM, every answer
counted once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_cli import run


def test_bench_slack_answers_every_mention_once(database_url_text: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url_text, "APP_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "server.jsonl"
    result = run(
        "bench", "slack", "--events", "20", "--concurrency", "5", "--workers", "2", "--server-log", str(log),
        "--json", **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert (figures["answered"], figures["failed_acks"], figures["lost"], figures["duplicated"]) == (20, 0, 0, 0)
    assert 0 < figures["ack_ms"]["p50"] <= figures["ack_ms"]["p99"]
    assert figures["answers_per_second"] > 0 and figures["server_peak_rss_mb"] > 100
    assert log.read_text().count('"event": "answer delivered"') == 20 + 5  # the warm-up sends as many as are in flight
