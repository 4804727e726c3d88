"""A TCP proxy on 127.0.0.1 in front of the test server, which a test can cut off as a restart cuts off clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import URL


class DatabaseProxy:
    def __init__(self, target: URL) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> URL:
        """``target`` through the proxy."""
        return self.target.set(host="127.0.0.1", port=self.port, query={})

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = self.target.query.get("host")  # the embedded server: its Unix socket
        if socket_dir:
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{self.target.query['port']}")
        return await asyncio.open_connection(self.target.host, self.target.port or 5432)

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await self._upstream()
        self._writers |= {client_writer, server_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
        self._writers -= {client_writer, server_writer}

    async def open(self) -> None:
        """Accept connections (again, on the same port)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Close every connection through the proxy and refuse new ones, as a server shutting down does."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()


@asynccontextmanager
async def database_proxy(target: URL) -> AsyncIterator[DatabaseProxy]:
    proxy = DatabaseProxy(target)
    await proxy.open()
    try:
        yield proxy
    finally:
        await proxy.cut()
