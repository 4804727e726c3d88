"""Discord end to end: ``serve`` in process against a fake Discord, and the routes its answers are posted to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from asgi_lifespan import LifespanManager

from bot.web.app import create_app
from core.settings import load_settings
from knowledge.service import KnowledgeBase
from tests.fakes.discord_api import BOT_TOKEN, CHANNEL_ID, MESSAGE_CONTENT_LIMITED, FakeDiscord, fake_discord
from tests.integration.helpers.slack import GUIDE

CHANNEL_MESSAGES = rf"/channels/{CHANNEL_ID}/messages"
CALLBACK = r"/interactions/\d+/[^/]+/callback"
QUESTION = "how do I rotate the signing key?"
FOLLOW_UP = "and how long do the old tokens keep working?"
QUIET = 1.0
"""Seconds after which an answer, had one been queued, would have been posted."""


@asynccontextmanager
async def reading_server(
    kb: KnowledgeBase, folder: Path, *, forum_tags: tuple[str, ...] = ()
) -> AsyncIterator[FakeDiscord]:
    """A fake Discord whose server (a fresh guild id: the tenant) has the guide ingested, and a forum with
    ``forum_tags``; the application may use the Message Content intent (switched on in the Developer Portal)."""
    async with fake_discord() as fake:
        fake.application_flags = MESSAGE_CONTENT_LIMITED
        for tag in forum_tags:
            fake.forum_tag(tag)
        (folder / "guide.md").write_text(GUIDE)
        await kb.ingest([str(folder / "guide.md")], tenant=str(fake.guild_id), collection="guide")
        yield fake


def reading(fake: FakeDiscord) -> dict[str, Any]:
    """DISCORD_* with DISCORD_MESSAGE_CONTENT=true."""
    return discord_settings(fake, message_content=True)


def discord_settings(fake: FakeDiscord, **extra: Any) -> dict[str, Any]:
    """DISCORD_* for the fake: its endpoints, and a short wait after the last GUILD_CREATE."""
    return {
        "bot_token": BOT_TOKEN,
        "api_url": fake.api_url,
        "gateway_url": fake.gateway_url,
        "guild_ready_timeout": 0.2,
    } | extra


@asynccontextmanager
async def discord_app(
    database_url: str, fake: FakeDiscord, *, gateway: bool = True, worker: bool = True, **overrides: Any
) -> AsyncIterator[None]:
    """``serve`` on the fake: the gateway and a worker unless told otherwise (``--role discord|worker``)."""
    values: dict[str, Any] = {
        "database": {"url": database_url},
        "discord": discord_settings(fake),
        "agent": {"min_similarity": 0.25},
        "queue": {"update_interval": 0.2},
    }
    settings = load_settings(**(values | overrides))
    app = create_app(settings, listeners=False, gateway=gateway, worker=worker)
    async with LifespanManager(app, startup_timeout=30):
        if gateway:
            await asyncio.wait_for(fake.identified.wait(), timeout=15)
        yield
