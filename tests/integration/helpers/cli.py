"""The ``threadwise`` command run as a user runs it, in a process of its own, and what its tests share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

THREADWISE = str(Path(sys.executable).parent / "threadwise")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THREADWISE, *args],
        env={**os.environ, "LOG_FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


# --- the knowledge commands ------------------------------------------------------------------------------------


@pytest.fixture
def env(database_url_text: str, tmp_path: Path) -> dict[str, str]:
    # Embedding caches and anything else the CLI writes stay in this test's folder.
    return {"DATABASE_URL": database_url_text, "APP_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def tenant() -> str:
    return f"cli:{uuid.uuid4().hex[:8]}"


def write_docs(root: Path) -> Path:
    docs = root / "kb"
    docs.mkdir()
    (docs / "vpn.md").write_text(
        "# VPN\n\n## Connect from home\n\nOpen WireGuard, import the office profile and press Activate.\n"
    )
    (docs / "lunch.txt").write_text("The canteen serves lunch from noon until two, vegetarian on Fridays.\n")
    (docs / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    return docs
