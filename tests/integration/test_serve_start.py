"""``threadwise serve`` starting up: ``--port 0`` (a port the OS chooses) and a Discord gateway it cannot reach."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from contextlib import suppress
from pathlib import Path
from subprocess import PIPE

import httpx
import pytest

from tests.fakes.discord_api import BOT_TOKEN, fake_discord

pytestmark = pytest.mark.slow  # each test starts `threadwise serve` in a process of its own

THREADWISE = str(Path(sys.executable).parent / "threadwise")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_port_0_serves_on_a_port_the_os_chooses_even_when_web_port_is_taken(database_url_text: str) -> None:
    with socket.socket() as taken:  # WEB_PORT, held busy: `--port 0` must not fall back to it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        web_port = taken.getsockname()[1]
        env = {**os.environ, "LOG_FORMAT": "json", "DATABASE_URL": database_url_text, "WEB_PORT": str(web_port)}
        server = await asyncio.create_subprocess_exec(
            THREADWISE, "serve", "--host", "127.0.0.1", "--port", "0", env=env, stdout=PIPE, stderr=PIPE
        )
        try:
            assert server.stdout is not None
            announced = await asyncio.wait_for(_line_with(server.stdout, "Threadwise on"), timeout=60)
            match = re.search(r"http://127\.0\.0\.1:(\d+)", announced)
            assert match, announced
            port = int(match.group(1))
            assert port not in (0, web_port), announced
            async with httpx.AsyncClient() as client:
                health = await client.get(f"http://127.0.0.1:{port}/healthz")
        finally:
            with suppress(ProcessLookupError):  # it may have ended already, failing
                server.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(server.communicate(), timeout=60)
    assert health.status_code == 200
    assert server.returncode == 128 + signal.SIGTERM, stderr.decode()


async def _line_with(stream: asyncio.StreamReader, text: str) -> str:
    while line := (await stream.readline()).decode():
        if text in line:
            return line
    raise AssertionError(f"the output ended without {text!r}")


async def test_an_unreachable_discord_gateway_ends_serve_with_one_clear_line(database_url_text: str) -> None:
    gateway = f"ws://127.0.0.1:{closed_port()}/"
    async with fake_discord() as fake:
        env = {
            **os.environ,
            "LOG_FORMAT": "json",
            "DATABASE_URL": database_url_text,
            "DISCORD_BOT_TOKEN": BOT_TOKEN,
            "DISCORD_API_URL": fake.api_url,
            "DISCORD_GATEWAY_URL": gateway,
        }
        server = await asyncio.create_subprocess_exec(
            THREADWISE, "serve", "--role", "discord", "--port", "0", env=env, stdout=PIPE, stderr=PIPE
        )
        try:
            stdout, stderr = await asyncio.wait_for(server.communicate(), timeout=90)
        finally:
            if server.returncode is None:
                server.kill()
    output = (stdout + stderr).decode()
    assert server.returncode not in (0, None), output
    assert "Traceback" not in output
    (error,) = [line for line in stderr.decode().splitlines() if line.startswith("error:")]
    assert gateway.rstrip("/") in error and "Discord gateway" in error and "refused" in error.lower(), error
