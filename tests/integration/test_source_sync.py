"""A website source synced into a collection through the engine, the real connector and the real embedder, against
a fake site on 127.0.0.1: first sync, an unchanged re-sync, an edit, a deletion, a failure in the middle, removal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker
from core.settings import KnowledgeSettings
from knowledge.service import KnowledgeBase
from knowledge.sources.service import Sources
from tests.counting_embedder import CountingEmbedder
from tests.fakes.website import FakeWebsite, serving_website


@pytest.fixture
def site() -> Iterator[FakeWebsite]:
    with serving_website(FakeWebsite(pages=12)) as served:
        yield served


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def sources(engine: AsyncEngine, counting: CountingEmbedder) -> Sources:
    return Sources(
        KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=counting, settings=KnowledgeSettings())
    )


async def _add(sources: Sources, site: FakeWebsite, tenant: str) -> None:
    await sources.add(
        tenant=tenant,
        name="docs-site",
        kind="website",
        collection="docs",
        settings={"start_urls": [site.url("/docs/")], "max_depth": 3},
    )


async def test_a_site_synced_then_kept_in_step(
    sources: Sources, site: FakeWebsite, counting: CountingEmbedder, tenant: str
) -> None:
    await _add(sources, site, tenant)
    first = await sources.sync(tenant=tenant, name="docs-site")
    pages = site.allowed_pages(max_depth=3)
    assert first.error is None and first.failed == []
    assert (first.listed, first.written) == (len(pages), len(pages))
    status = await sources.get(tenant=tenant, name="docs-site")
    assert (status.state, status.items, status.last_error) == ("idle", len(pages), None)
    assert status.chunks >= len(pages) and status.last_success_at is not None
    hits = await sources.knowledge.search("What does page 7 explain?", tenant=tenant, collections=["docs"])
    assert hits[0].source_uri == site.url("/docs/page-7.html")

    # Unchanged: only conditional requests, nothing fetched, nothing embedded.
    mark, embedded = site.mark(), len(counting.embedded)
    again = await sources.sync(tenant=tenant, name="docs-site")
    assert (again.fetched, again.written, again.pruned, again.chunks_written) == (0, 0, 0, 0)
    assert again.unchanged + again.not_modified == len(pages)
    assert site.bodies(since=mark) == []
    assert len(counting.embedded) == embedded

    # One page edited, one deleted.
    site.edit("/docs/page-3.html", "Page 3 now also covers the rotation of signing keys.")
    site.delete("/docs/page-5.html")
    mark = site.mark()
    changed = await sources.sync(tenant=tenant, name="docs-site")
    assert (changed.fetched, changed.written, changed.pruned) == (1, 1, 1)
    assert [request.path for request in site.bodies(since=mark)] == ["/docs/page-3.html"]
    hits = await sources.knowledge.search("rotation of signing keys", tenant=tenant, collections=["docs"])
    assert hits[0].source_uri == site.url("/docs/page-3.html")
    assert site.url("/docs/page-5.html") not in {
        hit.source_uri
        for hit in await sources.knowledge.search("page 5", tenant=tenant, collections=["docs"], limit=50)
    }
    assert (await sources.get(tenant=tenant, name="docs-site")).items == len(pages) - 1

    # Removing the source removes what it brought.
    assert await sources.remove(tenant=tenant, name="docs-site") == len(pages) - 1
    assert await sources.knowledge.search("page", tenant=tenant, collections=["docs"]) == []
    assert await sources.statuses(tenant=tenant) == []


async def test_a_failure_in_the_middle_is_recorded_and_the_next_run_completes(
    sources: Sources, site: FakeWebsite, tenant: str
) -> None:
    await _add(sources, site, tenant)
    site.fail("/docs/page-6.html", 503, times=10)
    failed = await sources.sync(tenant=tenant, name="docs-site")
    assert failed.error is not None and "HTTP 503" in failed.error and "/docs/page-6.html" in failed.error
    status = await sources.get(tenant=tenant, name="docs-site")
    assert (status.state, status.failures, status.last_success_at) == ("failed", 1, None)
    assert status.last_error == failed.error

    site.failures.clear()
    done = await sources.sync(tenant=tenant, name="docs-site")
    assert done.error is None
    status = await sources.get(tenant=tenant, name="docs-site")
    assert (status.state, status.failures, status.items) == ("idle", 0, len(site.allowed_pages(max_depth=3)))
    # What the failed run wrote is not written twice: every page is stored once.
    hits = await sources.knowledge.search("explains topic", tenant=tenant, collections=["docs"], limit=50)
    assert len({hit.source_uri for hit in hits}) == len(hits)
