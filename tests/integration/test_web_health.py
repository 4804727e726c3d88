from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import URL

from bot.web.app import create_app
from core.db import create_engine
from core.schema import DatabaseNotMigratedError, run_migrations
from core.settings import load_settings
from tests.conftest import database_settings_for_tests


@asynccontextmanager
async def client_for(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(database={"url": database_url}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://threadwise.test") as client:
            yield client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_ready_on_a_migrated_database(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["migrations"] == "at head"
    assert body["checks"]["pgvector"].startswith("pgvector 0.")


async def test_not_ready_when_the_database_is_unreachable() -> None:
    async with client_for(f"postgresql://threadwise:pw@127.0.0.1:{closed_port()}/threadwise") as client:
        assert (await client.get("/healthz")).status_code == 200
        response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reason"].startswith("database: cannot connect to the database")
    assert "pw@" not in response.text


async def test_not_ready_when_the_schema_falls_behind(empty_database_url: URL) -> None:
    engine = create_engine(empty_database_url, role="tests", database=database_settings_for_tests())
    await run_migrations(engine, "upgrade", "head")
    try:
        async with client_for(empty_database_url.render_as_string(hide_password=False)) as client:
            assert (await client.get("/readyz")).status_code == 200
            await run_migrations(engine, "downgrade", "base")
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert "threadwise db upgrade" in response.json()["reason"]
    finally:
        await engine.dispose()


async def test_refuses_to_start_on_an_unmigrated_database(empty_database_url: URL) -> None:
    with pytest.raises(DatabaseNotMigratedError, match="threadwise db upgrade"):
        async with client_for(empty_database_url.render_as_string(hide_password=False)):
            pass


async def test_request_ids_are_echoed_or_made(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        bogus = await client.get("/healthz", headers={"X-Request-ID": "not ok <script>" * 20})
        none = await client.get("/healthz")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(bogus.headers["x-request-id"]) == 32
    assert bogus.headers["x-request-id"] != none.headers["x-request-id"]
