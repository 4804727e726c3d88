"""The website connector alone (no database) against a fake site on 127.0.0.1, driven as the sync engine drives a
connector: list the items, fetch those whose version differs from the stored one, keep the new versions, prune
what the listing no longer shows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from knowledge.sources.http import SourceHttp
from knowledge.sources.protocol import ConnectorError, Fetched, Gone, ItemRef, NotModified
from knowledge.sources.website import WebsiteConnector, WebsiteSettings, normalize_url
from tests.fakes.website import DUPLICATE, OUT_OF_SCOPE, PRIVATE, REDIRECT, FakeWebsite, serving_website


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Run:
    """One sync as the engine runs it: what was listed, what fetch said, and the versions to store."""

    listed: list[ItemRef] = field(default_factory=list)
    results: dict[str, Fetched | NotModified | Gone] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Listed with the stored version: not fetched at all."""
    stored: dict[str, str] = field(default_factory=dict)
    sleeps: Sleeps = field(default_factory=Sleeps)

    @property
    def keys(self) -> set[str]:
        return {item.key for item in self.listed}

    def fetched(self) -> dict[str, Fetched]:
        return {key: result for key, result in self.results.items() if isinstance(result, Fetched)}


async def sync(
    site: FakeWebsite, stored: dict[str, str] | None = None, *, cache_bytes: int = 10_000_000, **settings: object
) -> Run:
    options: dict[str, object] = {"start_urls": (site.url("/docs/"),), **settings}
    config = WebsiteSettings.model_validate(options)
    run = Run()
    stored = dict(stored or {})
    http = SourceHttp(max_requests=config.request_budget, max_bytes=1_000_000, trust_env=False, sleep=run.sleeps)
    connector = WebsiteConnector(config, known_versions=stored, http=http, cache_bytes=cache_bytes)
    try:
        async for item in connector.items():
            run.listed.append(item)
            if item.version is not None and stored.get(item.key) == item.version:
                run.skipped.append(item.key)
                run.stored[item.key] = item.version
                continue
            result = await connector.fetch(item, stored.get(item.key))
            run.results[item.key] = result
            if isinstance(result, Fetched):
                run.stored[item.key] = result.version
            elif isinstance(result, NotModified):
                run.stored[item.key] = stored[item.key]
    finally:
        await connector.aclose()
        await http.aclose()
    return run


@pytest.fixture
def site() -> Iterator[FakeWebsite]:
    with serving_website(FakeWebsite(pages=12)) as served:
        yield served


async def test_first_listing_finds_every_allowed_page_once(site: FakeWebsite) -> None:
    run = await sync(site)

    assert run.keys == site.allowed_pages(max_depth=5)
    assert len(run.listed) == len(run.keys), "each page listed once"
    assert set(run.fetched()) == run.keys
    requested = site.paths_requested()
    assert PRIVATE not in requested, "robots.txt disallows it"
    assert not any(path.startswith(OUT_OF_SCOPE) for path in requested), "outside the path prefix"
    assert not any("utm_" in path or "logo.png" in path for path in requested)
    assert "/docs/deep/level-6.html" not in requested, "level 5 is as deep as the crawl goes"
    # The redirect led to page 3 and the copy to page 1: both listed once, under their own URLs.
    assert REDIRECT in requested and DUPLICATE in requested
    assert site.url(DUPLICATE) not in run.keys and site.url(REDIRECT) not in run.keys
    # Each page's body crossed the wire once: the listing's download is what fetch() loaded.
    bodies = Counter(request.path for request in site.bodies())
    assert bodies == Counter({path.removeprefix(site.base_url): 1 for path in run.keys} | {DUPLICATE: 1})
    page = run.fetched()[site.url("/docs/page-7.html")].document
    assert (page.title, page.source_uri) == ("Page 7", site.url("/docs/page-7.html"))
    assert "Page 7 explains topic 7." in page.text
    assert run.listed[0].title == "Docs"


async def test_caps_on_depth_and_pages(site: FakeWebsite) -> None:
    shallow = await sync(site, max_depth=2, use_sitemap=False)
    assert shallow.keys == site.allowed_pages(max_depth=2)
    assert "/docs/deep/level-3.html" not in site.paths_requested(), "level 2's links are not followed"
    capped = await sync(site, max_pages=5)
    assert len(capped.listed) == 5


@pytest.mark.parametrize(
    ("lastmod", "etags", "last_modified"),
    [(False, True, True), (False, False, True), (True, True, True)],
    ids=["etag", "last-modified-only", "sitemap-lastmod"],
)
async def test_an_unchanged_site_costs_only_conditional_requests(
    lastmod: bool, etags: bool, last_modified: bool
) -> None:
    with serving_website(FakeWebsite(pages=12, lastmod=lastmod, etags=etags, last_modified=last_modified)) as site:
        first = await sync(site)
        mark = site.mark()
        second = await sync(site, first.stored)

        assert second.keys == first.keys
        assert site.bodies(since=mark) == [], "no page body downloaded again"
        assert second.fetched() == {}
        assert second.stored == first.stored
        assert all(isinstance(result, NotModified) for result in second.results.values())
        page_requests = [path for path in site.paths_requested(since=mark) if path.startswith("/docs/page-")]
        if lastmod:  # the sitemap's dates say it all: not even a conditional request
            assert page_requests == []
        else:
            assert len(page_requests) == 12


async def test_without_validators_the_content_hash_spares_the_fetch() -> None:
    with serving_website(FakeWebsite(pages=4, etags=False, last_modified=False)) as site:
        first = await sync(site)
        second = await sync(site, first.stored)

    assert all(version.startswith("sha256:") for version in first.stored.values())
    assert set(second.skipped) == first.keys  # downloaded to list them, but nothing to load or re-embed


@pytest.mark.parametrize("lastmod", [False, True], ids=["etag", "sitemap-lastmod"])
async def test_an_edited_page_comes_back_with_a_new_version(lastmod: bool) -> None:
    with serving_website(FakeWebsite(pages=12, lastmod=lastmod)) as site:
        first = await sync(site)
        site.edit("/docs/page-4.html", "A new paragraph about upgrades.")
        mark = site.mark()
        second = await sync(site, first.stored)

    edited = site.url("/docs/page-4.html")
    assert set(second.fetched()) == {edited}
    result = second.fetched()[edited]
    assert result.version != first.stored[edited]
    assert "A new paragraph about upgrades." in result.document.text
    assert [request.path for request in site.bodies(since=mark)] == ["/docs/page-4.html"]


async def test_a_deleted_page_is_gone(site: FakeWebsite) -> None:
    first = await sync(site)
    site.delete("/docs/page-5.html")
    second = await sync(site, first.stored)

    deleted = site.url("/docs/page-5.html")
    assert deleted not in second.keys, "the listing no longer shows it: the engine prunes it"
    assert second.keys == first.keys - {deleted}
    # And fetching it by its stored version, as the engine would for an item still listed elsewhere: Gone.
    config = WebsiteSettings(start_urls=(site.url("/docs/"),))
    connector = WebsiteConnector(config, http=SourceHttp(max_requests=5, max_bytes=100_000, trust_env=False))
    try:
        assert await connector.fetch(ItemRef(key=deleted, url=deleted), first.stored[deleted]) == Gone()
    finally:
        await connector.aclose()


async def test_fetch_asks_conditionally_when_the_body_was_not_kept(site: FakeWebsite) -> None:
    first = await sync(site, cache_bytes=0)
    assert set(first.fetched()) == first.keys
    assert len(site.bodies()) == len(first.keys) * 2 + 1  # listing and fetch each download (plus the copy)

    site.edit("/docs/page-2.html", "Changed.")
    mark = site.mark()
    second = await sync(site, first.stored, cache_bytes=0)
    assert set(second.fetched()) == {site.url("/docs/page-2.html")}
    fetches = [r for r in site.requests[mark:] if r.path == "/docs/page-2.html"]
    assert [(r.status, r.if_none_match is not None) for r in fetches] == [(200, True), (200, True)]


async def test_a_429_with_retry_after_is_honoured(site: FakeWebsite) -> None:
    site.fail("/docs/page-2.html", 429, {"Retry-After": "7"})
    run = await sync(site)

    assert run.sleeps == [7.0]
    assert site.url("/docs/page-2.html") in run.fetched()
    statuses = [r.status for r in site.requests if r.path == "/docs/page-2.html"]
    assert statuses == [429, 200]


async def test_a_server_error_then_success_is_retried(site: FakeWebsite) -> None:
    site.fail("/docs/page-6.html", 500)
    run = await sync(site)

    assert len(run.sleeps) == 1 and 0.25 <= run.sleeps[0] <= 0.5
    assert run.keys == site.allowed_pages()


async def test_a_server_that_keeps_failing_fails_the_run(site: FakeWebsite) -> None:
    site.fail("/docs/page-6.html", 503, times=10)
    with pytest.raises(ConnectorError, match=r"HTTP 503 from http://127\.0\.0\.1:\d+/docs/page-6\.html"):
        await sync(site)


async def test_the_request_budget_raises(site: FakeWebsite) -> None:
    with pytest.raises(ConnectorError, match="budget of 6 requests"):
        await sync(site, max_requests=6)


async def test_finding_no_page_at_all_fails_the_run(site: FakeWebsite) -> None:
    with pytest.raises(ConnectorError, match=r"found no pages at http://127\.0\.0\.1:\d+/nowhere/"):
        await sync(site, start_urls=(site.url("/nowhere/"),), use_sitemap=False)


async def test_a_configured_sitemap_that_is_missing_fails_the_run(site: FakeWebsite) -> None:
    with pytest.raises(ConnectorError, match=r"sitemap .* answered HTTP 404"):
        await sync(site, sitemap_url=site.url("/no-sitemap.xml"))


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTP://Example.COM:80/a/./b/../c.html#top", "http://example.com/a/c.html"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/x?utm_source=a&b=2&a=1&fbclid=z", "https://example.com:8443/x?a=1&b=2"),
        ("https://user:pw@example.com/docs/", "https://example.com/docs/"),
        ("mailto:someone@example.com", None),
        ("javascript:void(0)", None),
        ("http:///no-host", None),
    ],
)
def test_urls_are_normalised(url: str, normalised: str | None) -> None:
    assert normalize_url(url) == normalised


async def test_scope_is_the_start_urls_folder_on_its_host() -> None:
    connector = WebsiteConnector(WebsiteSettings(start_urls=("https://example.com/docs/intro.html",)))
    try:
        assert connector.in_scope("https://example.com/docs/guide/setup.html")
        assert connector.in_scope("https://example.com/docs")
        assert not connector.in_scope("https://example.com/docs-old/page.html")
        assert not connector.in_scope("https://example.com/blog/")
        assert not connector.in_scope("https://docs.example.com/docs/page.html")
    finally:
        await connector.aclose()


def test_settings_refuse_what_cannot_be_crawled() -> None:
    with pytest.raises(ValueError, match="not an http"):
        WebsiteSettings(start_urls=("ftp://example.com/",))
    with pytest.raises(ValueError, match="starts with '/'"):
        WebsiteSettings(start_urls=("https://example.com/",), include_prefixes=("docs/",))
