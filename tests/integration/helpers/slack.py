"""Slack end to end: a fake Slack Web API, the app serving it in process, a team with a guide, signed events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bot.web.app import create_app
from core.settings import load_settings
from knowledge.service import KnowledgeBase
from tests.fakes.slack_api import BOT_TOKEN, BOT_USER_ID, SIGNING_SECRET, FakeSlack, event_envelope, fake_slack, sign

GUIDE = """# Deployment guide

## Rotate the signing key

Open the admin console, choose Security, and press Rotate. Old tokens stop working after one hour.
"""


@pytest.fixture
async def team(kb: KnowledgeBase, tmp_path: Path) -> str:
    team_id = f"T{uuid.uuid4().hex[:10].upper()}"
    (tmp_path / "guide.md").write_text(GUIDE)
    await kb.ingest([str(tmp_path / "guide.md")], tenant=team_id, collection="guide")
    return team_id


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@asynccontextmanager
async def slack_app(database_url: str, fake: FakeSlack, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    values: dict[str, Any] = {
        "database": {"url": database_url},
        "slack": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_url": fake.api_url},
        "agent": {"min_similarity": 0.25},
        "queue": {"update_interval": 0.2},
    }
    settings = load_settings(**(values | overrides))
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://threadwise.test") as client:
            yield client


def mention(team: str, text: str, *, channel: str = "C0GENERAL", user: str = "U0ALICE") -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts, "channel": channel}
    return event_envelope(event | {"team": team}, event_id=f"Ev{uuid.uuid4().hex[:12]}", team_id=team)


async def post_event(client: httpx.AsyncClient, envelope: dict[str, Any], **headers: str) -> httpx.Response:
    body = json.dumps(envelope)
    return await client.post("/slack/events", content=body, headers=sign(body) | headers)


async def answers(slack: FakeSlack, count: int = 1) -> list[dict[str, Any]]:
    found = await asyncio.to_thread(slack.wait_for, "chat.postMessage", count)
    return [call.args for call in found]


def is_whole_answer(message: dict[str, Any]) -> bool:
    """A message holding a whole answer: the sources under it (a partial one shows at most a Stop button), no
    stream open."""
    blocks = message.get("blocks") or []
    return any(block["type"] == "context" for block in blocks) and not message.get("streaming")


async def answered(slack: FakeSlack) -> None:
    """Wait until an answer is written whichever way it went: posted, or streamed (the first partial answer starts a
    stream when the machine is slow enough for one to be shown) and the stream stopped."""
    await asyncio.to_thread(slack.wait_for, ("chat.postMessage", "chat.stopStream"))


async def slash(client: httpx.AsyncClient, team: str, text: str, *, user: str = "U0ALICE") -> httpx.Response:
    form = {
        "command": "/threadwise",
        "text": text,
        "team_id": team,
        "channel_id": "C0GENERAL",
        "user_id": user,
        "trigger_id": f"trig.{uuid.uuid4().hex}",
        "response_url": "http://127.0.0.1:9/unused",
    }
    body = urlencode(form)
    headers = sign(body, content_type="application/x-www-form-urlencoded")
    return await client.post("/slack/events", content=body, headers=headers)
