"""The ``threadwise`` command run as a user runs it: a real process, real PostgreSQL, fakes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from core.schema import head_revisions
from tests.conftest import REPO_ROOT
from tests.integration.fake_integrations import GOOD_DISCORD_TOKEN, GOOD_LLM_KEY, GOOD_SLACK_TOKEN, fake_integrations
from tests.integration.helpers.cli import THREADWISE, assert_no_traceback, free_port, run

pytestmark = pytest.mark.slow  # each test runs `threadwise` in a process of its own


def test_doctor_is_green_with_every_integration_configured(database_url_text: str) -> None:
    with fake_integrations() as base:
        result = run(
            "doctor",
            DATABASE_URL=database_url_text,
            SLACK_BOT_TOKEN=GOOD_SLACK_TOKEN,
            SLACK_SIGNING_SECRET="signing-secret-0123456789",
            SLACK_API_URL=f"{base}/slack/api/",
            DISCORD_BOT_TOKEN=GOOD_DISCORD_TOKEN,
            DISCORD_API_URL=f"{base}/discord/api/v10",
            LLM_MODEL="openai:local-model",
            LLM_BASE_URL=f"{base}/llm/v1",
            LLM_API_KEY=GOOD_LLM_KEY,
            SENTRY_DSN="https://publickey@127.0.0.1/42",
        )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "✓ database",
        "✓ pgvector",
        "✓ migrations  at head",
        "✓ slack       workspace Acme as @threadwise",
        "✓ discord     bot threadwise",
        "✓ llm         openai:local-model",
        "✓ sentry",
        "All checks passed.",
    ):
        assert line in result.stdout
    for secret in (GOOD_SLACK_TOKEN, GOOD_DISCORD_TOKEN, GOOD_LLM_KEY, "signing-secret-0123456789", "publickey"):
        assert secret not in result.stdout + result.stderr
    assert "SLACK_BOT_TOKEN" in result.stdout
    assert "set (hidden)" in result.stdout


def test_doctor_fails_on_rejected_tokens(database_url_text: str) -> None:
    with fake_integrations() as base:
        result = run(
            "doctor",
            DATABASE_URL=database_url_text,
            SLACK_BOT_TOKEN="xoxb-1111-2222-revoked",
            SLACK_APP_TOKEN="xapp-1-A1-revoked",
            SLACK_API_URL=f"{base}/slack/api/",
            DISCORD_BOT_TOKEN="discord.revoked",
            DISCORD_API_URL=f"{base}/discord/api/v10",
        )
    assert result.returncode == 1
    assert "✗ slack       SLACK_BOT_TOKEN rejected by auth.test: invalid_auth" in result.stdout
    assert "✗ discord     DISCORD_BOT_TOKEN rejected (HTTP 401)" in result.stdout
    assert "2 check(s) failed." in result.stdout


def test_doctor_on_a_closed_port_says_why_in_one_line() -> None:
    result = run("doctor", DATABASE_URL=f"postgresql://threadwise:pw-123@127.0.0.1:{free_port()}/threadwise")
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if "database" in line and "✗" in line]
    assert "cannot connect to the database" in line
    assert "Connect call failed" in line
    assert "pw-123" not in result.stdout + result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize("command", ["serve", "doctor"])
def test_slack_token_without_transport_names_signing_secret(command: str) -> None:
    result = run(command, SLACK_BOT_TOKEN="xoxb-1111-2222-lonelytoken")
    assert result.returncode == 1
    assert "SLACK_SIGNING_SECRET" in result.stderr
    assert "SLACK_APP_TOKEN" in result.stderr
    assert "lonelytoken" not in result.stdout + result.stderr
    assert_no_traceback(result)


def test_serve_refuses_an_unmigrated_database(empty_database_url: URL) -> None:
    result = run("serve", "--port", str(free_port()), DATABASE_URL=empty_database_url.render_as_string(False))
    assert result.returncode == 1
    assert "refusing to serve" in result.stderr
    assert "threadwise db upgrade" in result.stderr
    assert_no_traceback(result)


def serve_and_probe(**env: str) -> tuple[int, str, dict[str, object]]:
    """Start `threadwise serve`, wait for /healthz, read /readyz, stop it with SIGTERM.

    Returns the exit status, what it logged, and the /readyz body.
    """
    port = free_port()
    server = subprocess.Popen(
        [THREADWISE, "serve", "--port", str(port)],
        env={**os.environ, "LOG_FORMAT": "json", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "threadwise serve did not start within 30 s"
                time.sleep(0.2)
        assert health.status_code == 200
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    return server.returncode, stderr, ready.json()


def test_upgrade_then_serve_answers_health_probes(empty_database_url: URL) -> None:
    url = empty_database_url.render_as_string(hide_password=False)
    upgraded = run("db", "upgrade", DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"Database at revision {', '.join(sorted(head_revisions()))}." in upgraded.stdout

    status, log, ready = serve_and_probe(DATABASE_URL=url)
    assert ready["status"] == "ready"
    # Graceful shutdown, then exit status 143 (128 + SIGTERM) so supervisors see why it stopped.
    assert status == 128 + signal.SIGTERM
    assert '"threadwise web ready"' in log and "Application shutdown complete." in log
    assert "Traceback" not in log


@pytest.mark.usefixtures("without_pooler")
def test_serve_on_a_fresh_embedded_database_stops_it_on_sigterm(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    assert run("db", "upgrade", APP_DATA_DIR=data_dir).returncode == 0
    status, log, ready = serve_and_probe(APP_DATA_DIR=data_dir)
    assert ready["status"] == "ready"
    assert status == 128 + signal.SIGTERM, log
    # A clean PostgreSQL shutdown removes its pid file; nothing is left running.
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists()


@pytest.mark.usefixtures("without_pooler")
def test_embedded_default_upgrade_and_doctor_are_green() -> None:
    # The suite's own embedded server lives here; the CLI joins it (or starts it) like `make run` does.
    data_dir = str(REPO_ROOT / ".data" / "test")
    assert run("db", "upgrade", APP_DATA_DIR=data_dir).returncode == 0
    result = run("doctor", APP_DATA_DIR=data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded PostgreSQL" in result.stdout
    assert "All checks passed." in result.stdout
