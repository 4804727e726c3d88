"""The durable queue and the worker without a platform: a queue emptied around each test, questions as chat events,
a recording deliverer standing in for the platform edge, and an agent that answers only when let through."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.engine import URL

from agent.schemas import AnswerReply, AnswerRequest, StreamEvent, StreamFinal
from bot.events import ChatEvent
from bot.queue import JobQueue
from core.settings import QueueSettings
from tests.conftest import database_settings_for_tests

SETTINGS = QueueSettings(
    concurrency=2, retry_attempts=3, retry_delay=0.05, stalled_after_seconds=1.0, update_interval=0.0
)


class RecordingDeliverer:
    """The platform edge: records what the worker shows and posts; can fail or hang like a real network."""

    def __init__(self, *, failures: int = 0, hang: bool = False) -> None:
        self.failures = failures
        self.hang = hang
        self.working_on: list[str] = []
        self.updates: list[str] = []
        self.resumed: list[str] = []
        self.attempts = 0
        self.delivered: list[tuple[ChatEvent, AnswerReply]] = []
        self.delivering = asyncio.Event()
        """Set when a delivery starts (the job got as far as posting)."""
        self.done = asyncio.Event()

    async def working(self, event: ChatEvent) -> None:
        self.working_on.append(event.event_id)

    def offers_stop(self, event: ChatEvent) -> bool:
        return False

    def resume(self, event: ChatEvent, placeholder_id: str) -> None:
        self.resumed.append(placeholder_id)

    async def update(self, event: ChatEvent, partial_text: str) -> None:
        self.updates.append(partial_text)

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        self.attempts += 1
        self.delivering.set()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the platform is unreachable")
        if self.hang:
            await asyncio.Event().wait()
        self.delivered.append((event, reply))
        self.done.set()
        return f"posted-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def queue(database_url: URL) -> AsyncIterator[JobQueue]:
    async with await JobQueue.connect(database_url, role="tests", database=database_settings_for_tests()) as queue:
        await queue.pool.execute("DELETE FROM pgqueuer")  # the session database is shared: start empty
        yield queue
        await queue.pool.execute("DELETE FROM pgqueuer")


def question(tenant: str, text: str = "How do I rotate the signing key?", **fields: Any) -> ChatEvent:
    values: dict[str, Any] = {
        "platform": "slack",
        "event_id": f"Ev{uuid.uuid4().hex[:12]}",
        "tenant": tenant,
        "channel": "C0ENG",
        "thread": "1700000000.000100",
        "user_id": "U0ALICE",
        "message_id": "1700000000.000100",
        "text": text,
    }
    return ChatEvent.model_validate(values | fields)


async def jobs(queue: JobQueue) -> list[dict[str, Any]]:
    return [dict(row) for row in await queue.pool.fetch("SELECT id, status, dedupe_key FROM pgqueuer ORDER BY id")]


class GatedAgent:
    """Answers only when let through; counts the answers running at once and the questions it was asked to embed."""

    def __init__(self) -> None:
        self.gate = asyncio.Semaphore(0)
        self.running = 0
        self.most_at_once = 0
        self.embedded: list[str] = []

    def embed_question(self, request: AnswerRequest) -> None:
        self.embedded.append(request.trace_id or "")

    async def stream(self, request: AnswerRequest, *, query_embedding: object = None) -> AsyncIterator[StreamEvent]:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.gate.acquire()
        finally:
            self.running -= 1
        yield StreamFinal(reply=AnswerReply(text="Done.", outcome="answered", trace_id=request.trace_id))


async def until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    for _ in range(round(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still waiting for {what}")
