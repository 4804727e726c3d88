"""``threadwise bench cluster`` as an operator runs it: replicas of ``threadwise serve`` on a PostgreSQL of their own
(the embedded one, so that restarting it disturbs no other test), one worker and one web replica killed and the
server restarted mid-run, and every accepted mention answered once.

The run goes the way the suite goes: directly in the run on the embedded server, through PgBouncer in transaction
mode in CI's run through PgBouncer (the program is installed then)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.conftest import POOLED_PER_TRANSACTION
from tests.integration.helpers.cli import run

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("without_pooler")]


async def test_bench_cluster_answers_every_accepted_mention_once_through_the_faults(tmp_path: Path) -> None:
    env = {"APP_DATA_DIR": str(tmp_path / "data")}
    upgraded = await asyncio.to_thread(run, "db", "upgrade", **env)
    assert upgraded.returncode == 0, upgraded.stderr
    through = ["--pgbouncer"] if POOLED_PER_TRANSACTION else []
    result = await asyncio.to_thread(
        run, "bench", "cluster", "--events", "40", "--rate", "4", *through, "--log-dir", str(tmp_path / "logs"),
        "--json", **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["pgbouncer"] is POOLED_PER_TRANSACTION
    assert [fault.split(": ", 1)[1] for fault in figures["faults"]] == [
        "SIGKILL worker 1",
        "SIGKILL web 1",
        "PostgreSQL restarted (fast shutdown)",
    ]
    # Mentions sent to the killed web replica were sent again to the other, as Slack and a load balancer would.
    assert figures["retried"] > 0
    assert (figures["accepted"], figures["answered"], figures["lost"], figures["duplicated"]) == (40, 40, 0, 0)
    assert figures["seconds_from_last_fault_to_last_answer"] < 60
    logs = sorted(path.name for path in (tmp_path / "logs").iterdir())
    assert logs == ["web-1.log", "web-2.log", "worker-1.log", "worker-2.log", "worker-3.log"]
