"""The web app in process for the HTTP API tests: a client on it, the admin token, and a tenant with a guide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bot.web.app import create_app
from core.settings import load_settings
from knowledge.service import KnowledgeBase

ADMIN_TOKEN = "admin-token-0123456789abcdef"


@pytest.fixture
async def docs_tenant(kb: KnowledgeBase, tenant: str, tmp_path: Path) -> str:
    (tmp_path / "guide.md").write_text(
        "# Guide\n\n## Rotate the signing key\n\nOpen the admin console, choose Security, and press Rotate. "
        "Old tokens stop working after one hour.\n"
    )
    await kb.ingest([str(tmp_path / "guide.md")], tenant=tenant, collection="guide")
    return tenant


@asynccontextmanager
async def client_for(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(database={"url": database_url}, agent={"min_similarity": 0.25}, **settings))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://threadwise.test") as client:
            yield client
