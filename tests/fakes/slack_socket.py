"""A fake of Slack's Socket Mode websocket on 127.0.0.1: says hello, pushes event envelopes, records acks."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import WSMsgType, web


class FakeSocketMode:
    def __init__(self) -> None:
        self.url = ""
        self.acks: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = threading.Event()
        self._runner: web.AppRunner | None = None

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {}}))
        self._sockets.append(socket)
        self._connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                envelope_id = json.loads(message.data).get("envelope_id")
                if envelope_id:
                    self.acks.append(envelope_id)
        return socket

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/link"

    def start(self) -> None:
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            for socket in self._sockets:
                await socket.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def push_event(self, payload: dict[str, Any]) -> str:
        """Send an Events API envelope to the connected client; returns its envelope id."""
        if not self._connected.wait(timeout=20):
            raise AssertionError("no Socket Mode client connected")
        envelope_id = uuid.uuid4().hex
        message = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": payload,
            "accepts_response_payload": False,
        }

        async def send() -> None:
            await self._sockets[-1].send_str(json.dumps(message))

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(timeout=10)
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while envelope_id not in self.acks:
            if time.monotonic() > deadline:
                raise AssertionError(f"envelope {envelope_id} was not acknowledged: {self.acks}")
            time.sleep(0.02)


@contextmanager
def fake_socket_mode() -> Iterator[FakeSocketMode]:
    fake = FakeSocketMode()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
