from __future__ import annotations

import asyncio
import socket

import pytest

from tests.network_guard import ExternalNetworkError, is_local_host

# 192.0.2.0/24 is reserved for documentation: nothing answers there, and the guard stops us before trying.
OUTSIDE = "192.0.2.10"


def test_connecting_outside_this_machine_fails_the_test() -> None:
    with socket.socket() as sock, pytest.raises(ExternalNetworkError):
        sock.connect((OUTSIDE, 443))


def test_name_lookups_of_other_hosts_fail() -> None:
    with pytest.raises(ExternalNetworkError):
        socket.getaddrinfo("slack.com", 443)


async def test_asyncio_connections_are_guarded_too() -> None:
    with pytest.raises(ExternalNetworkError):
        await asyncio.open_connection(OUTSIDE, 5432)


async def test_loopback_connections_work() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(5))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("localhost", port)
        writer.write(b"hello")
        assert await reader.read(5) == b"hello"
        writer.close()


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), (OUTSIDE, False), ("example.org", False)],
)
def test_local_host_classification(host: str, local: bool) -> None:
    assert is_local_host(host) is local
