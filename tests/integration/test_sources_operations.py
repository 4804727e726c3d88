"""Where a source's health shows: the dashboard (with "sync now"), /metrics, ``doctor``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.doctor import sources_check
from core.db import create_sessionmaker
from core.settings import KnowledgeSettings
from knowledge.embeddings import LocalEmbedder
from knowledge.service import KnowledgeBase
from knowledge.sources.service import Sources
from tests.fakes.website import FakeWebsite, serving_website
from tests.integration.helpers.api import ADMIN_TOKEN, client_for

ORIGIN = {"Origin": "http://threadwise.test"}


@pytest.fixture
def site() -> Iterator[FakeWebsite]:
    with serving_website(FakeWebsite(pages=4)) as served:
        yield served


@pytest.fixture
def sources(engine: AsyncEngine, embedder: LocalEmbedder) -> Sources:
    return Sources(
        KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=embedder, settings=KnowledgeSettings())
    )


async def _add(sources: Sources, site: FakeWebsite, tenant: str) -> None:
    await sources.add(
        tenant=tenant,
        name="docs-site",
        kind="website",
        collection="docs",
        settings={"start_urls": [site.url("/docs/")], "max_depth": 2},
    )


async def test_the_dashboard_shows_sources_and_syncs_one_now(
    database_url_text: str, sources: Sources, site: FakeWebsite, tenant: str
) -> None:
    await _add(sources, site, tenant)
    site.fail("/docs/page-1.html", 503, times=10)
    assert (await sources.sync(tenant=tenant, name="docs-site")).error is not None
    site.failures.clear()
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        auth = ("admin", ADMIN_TOKEN)
        page = await client.get(f"/admin?tenant={tenant}", auth=auth)
        assert page.status_code == 200
        assert "docs-site" in page.text and "failed" in page.text and "HTTP 503" in page.text

        started = await client.post(f"/admin/sources/docs-site/sync?tenant={tenant}", auth=auth, headers=ORIGIN)
        assert started.status_code == 303 and started.headers["location"].endswith("#sources")

        async def synced() -> bool:
            return (await sources.get(tenant=tenant, name="docs-site")).state == "idle"

        for _ in range(200):  # the run goes on in the background
            if await synced():
                break
            await asyncio.sleep(0.05)
        assert (await sources.get(tenant=tenant, name="docs-site")).items == len(site.allowed_pages(max_depth=2))

        metrics = (await client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).text
        line = next(
            line
            for line in metrics.splitlines()
            if line.startswith("threadwise_source_last_success_timestamp_seconds{") and tenant in line
        )
        assert 'kind="website"' in line and 'source="docs-site"' in line and float(line.rsplit(" ", 1)[1]) > 0

        elsewhere = await client.post(f"/admin/sources/docs-site/sync?tenant={tenant}", auth=auth)
        assert elsewhere.status_code == 403  # no Origin: a page elsewhere cannot press the button
        unknown = await client.post(f"/admin/sources/nowhere/sync?tenant={tenant}", auth=auth, headers=ORIGIN)
        assert unknown.status_code == 404


async def test_doctor_names_a_failing_source(
    engine: AsyncEngine, sources: Sources, site: FakeWebsite, tenant: str
) -> None:
    await _add(sources, site, tenant)
    site.fail("/docs/", 503, times=10)
    await sources.sync(tenant=tenant, name="docs-site")
    check = await sources_check(engine)
    assert not check.ok and f"{tenant}/docs-site failed" in check.detail and "HTTP 503" in check.detail
    site.failures.clear()
    await sources.sync(tenant=tenant, name="docs-site")
    check = await sources_check(engine)
    assert f"{tenant}/docs-site" not in check.detail
