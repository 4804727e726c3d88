"""A Notion source synced into a collection through ``Sources``, the real connector and the real embedder, against a
fake of Notion's API on 127.0.0.1: first sync, an unchanged re-sync, an edit, deletions, a page the search misses,
failures in the middle, a rate limit, a rejected token, unreadable pages; then the command line."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from core.db import create_sessionmaker
from core.settings import KnowledgeSettings
from knowledge.service import KnowledgeBase
from knowledge.sources.http import SourceHttp
from knowledge.sources.notion import UNSETTLED, NotionConnector, NotionSettings
from knowledge.sources.protocol import Fetched
from knowledge.sources.service import Sources
from tests.counting_embedder import CountingEmbedder
from tests.fakes.notion_api import (
    FakeBlock,
    FakeNotion,
    FakePage,
    block,
    code,
    heading,
    new_id,
    paragraph,
    rich_text,
    serving_notion,
    table,
)
from tests.integration.helpers.cli import THREADWISE, assert_no_traceback, env, run

__all__ = ["env"]

TOKEN_ENV = "NOTION_TEST_TOKEN"
PAGES = 7
"""Pages in the workspace below: five pages (one a child page) and two database rows."""


def _words(topic: str, count: int = 110) -> str:
    """A paragraph long enough that each section of a page is a chunk of its own."""
    filler = f"This part of the guide is about {topic} and what a new colleague needs to know about it."
    words = (filler + " ") * (count // len(filler.split()) + 1)
    return " ".join(words.split()[:count]) + "."


@pytest.fixture
def notion() -> Iterator[FakeNotion]:
    with serving_notion(workspace()) as served:
        yield served


def workspace() -> FakeNotion:
    """Every block type the connector reads, nested lists and toggles, a child page, and a database whose one row
    the search has not indexed yet. ``limit=2``: every list takes several requests."""
    notion = FakeNotion(limit=2)
    notion.add_page(
        "Onboarding",
        [
            heading(1, "First day"),
            paragraph("Your buddy shows you the office, the kitchen and the fire exits. ", _words("the first day")),
            block(
                "bulleted_list_item",
                "Collect your badge at the front desk",
                children=[block("bulleted_list_item", "Bring an identity document")],
            ),
            block("to_do", "Sign the security policy", checked=False),
            heading(1, "Accounts"),
            paragraph("Single sign-on opens every tool. ", _words("accounts and passwords")),
            block("numbered_list_item", "Open the invitation e-mail"),
            block("numbered_list_item", "Choose a password"),
            heading(1, "Equipment"),
            paragraph("Laptops are ordered by the office manager. ", _words("laptops and screens")),
        ],
    )
    notion.add_page(
        "VPN",
        [
            paragraph("Connect with ", rich_text("WireGuard", bold=True), " using the office profile."),
            code("wg-quick up office", "shell"),
            block("callout", "Never share your private key.", icon={"type": "emoji", "emoji": "🔑"}),
            block(
                "toggle",
                "Troubleshooting",
                children=[paragraph("If the handshake fails, check that UDP port 51820 is open.")],
            ),
            table(["Site", "Endpoint"], ["Berlin", "vpn-ber.example.com"], ["Lisbon", "vpn-lis.example.com"]),
            FakeBlock(
                "synced_block",
                {"synced_from": {"type": "block_id", "block_id": new_id()}},
                [paragraph("A note synced from a page the integration cannot read.")],
                unreadable=True,
            ),
        ],
    )
    expenses = notion.add_page(
        "Expenses",
        [
            block("quote", "Keep every receipt."),
            FakeBlock("divider", {}),
            paragraph("Submit them in the ", rich_text("expense tool", link="https://expenses.example.com"), "."),
        ],
    )
    notion.add_page("Travel policy", [paragraph("Book trains for trips under six hours.")], parent=expenses)
    notion.add_page("Holidays", [paragraph("The office closes between Christmas and New Year.")])
    runbooks = notion.add_database("Runbooks")
    notion.add_row(
        runbooks,
        "Restart the queue",
        {
            "Status": _status("Done"),
            "Tags": _tags("queue", "ops"),
            "Notes": {"id": "n", "type": "rich_text", "rich_text": []},
        },
        [paragraph("Run the restart job from the admin console, then watch the queue depth drop.")],
    )
    rotate = notion.add_row(
        runbooks,
        "Rotate signing keys",
        {"Status": _status("In progress"), "Tags": _tags("security")},
        [paragraph("Generate the new key pair, publish it, then retire the old key a week later.")],
    )
    rotate.searchable = False
    return notion


def _status(name: str) -> dict[str, Any]:
    return {"id": "s", "type": "status", "status": {"id": new_id(), "name": name, "color": "green"}}


def _tags(*names: str) -> dict[str, Any]:
    return {
        "id": "t",
        "type": "multi_select",
        "multi_select": [{"id": new_id(), "name": n, "color": "gray"} for n in names],
    }


def page(notion: FakeNotion, title: str) -> FakePage:
    return next(p for p in notion.pages.values() if p.title == title)


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def sources(engine: AsyncEngine, counting: CountingEmbedder) -> Sources:
    return Sources(
        KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=counting, settings=KnowledgeSettings())
    )


@pytest.fixture(autouse=True)
def token(notion: FakeNotion, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, notion.token)
    return notion.token


async def _add(sources: Sources, notion: FakeNotion, tenant: str, *, env_name: str = TOKEN_ENV) -> None:
    await sources.add(
        tenant=tenant,
        name="wiki",
        kind="notion",
        collection="wiki",
        settings={"token": {"env": env_name}, "api_url": notion.base_url},
    )


async def _uris(sources: Sources, tenant: str, query: str) -> set[str]:
    hits = await sources.knowledge.search(query, tenant=tenant, collections=["wiki"], limit=50)
    return {hit.source_uri for hit in hits}


async def test_a_workspace_synced_then_kept_in_step(
    sources: Sources, notion: FakeNotion, counting: CountingEmbedder, tenant: str
) -> None:
    await _add(sources, notion, tenant)
    first = await sources.sync(tenant=tenant, name="wiki")
    assert first.error is None and first.failed == []
    assert (first.listed, first.written, first.pruned) == (PAGES, PAGES, 0)
    status = await sources.get(tenant=tenant, name="wiki")
    assert (status.state, status.items, status.last_error) == ("idle", PAGES, None)

    vpn = page(notion, "VPN")
    hits = await sources.knowledge.search("private key WireGuard", tenant=tenant, collections=["wiki"])
    assert (hits[0].source_uri, hits[0].url, hits[0].title) == (vpn.url, vpn.url, "VPN")
    # The row the search had not indexed came from its database's query, its properties before its body.
    rotate = page(notion, "Rotate signing keys")
    assert rotate.url in await _uris(sources, tenant, "retire the old signing key")
    texts = "\n".join(counting.embedded)
    assert "**Status:** In progress\n**Tags:** security\n\nGenerate the new key pair" in texts
    assert "**Status:** Done\n**Tags:** queue, ops\n\nRun the restart job" in texts, "an empty property is left out"
    # Nested blocks were read (the toggle's, the list's); the synced block from an unreadable page was left out.
    assert "- Troubleshooting\n\n  If the handshake fails" in texts
    assert "- Collect your badge at the front desk\n  - Bring an identity document" in texts
    assert "```shell\nwg-quick up office\n```" in texts and "| Berlin | vpn-ber.example.com |" in texts
    assert "synced from a page" not in texts
    travel_id = page(notion, "Travel policy").id.replace("-", "")
    assert f"[Travel policy](https://www.notion.so/{travel_id})" in texts, "a child page is a link to it"

    # Every list was read page by page, 100 asked for at a time.
    searches = [r for r in notion.requests if r.path == "/v1/search"]
    assert {r.body["filter"]["value"] for r in searches} == {"page", "database"}
    assert all(r.body["page_size"] == 100 for r in searches)
    assert any("start_cursor" in r.body for r in searches)
    assert any("start_cursor" in r.query and r.query["page_size"] == "100" for r in notion.requests)
    assert [r.method for r in notion.requests if r.path.endswith("/query")] == ["POST"]

    # Unchanged: the listing only; no page's blocks requested, nothing embedded.
    mark, embedded = notion.mark(), len(counting.embedded)
    again = await sources.sync(tenant=tenant, name="wiki")
    assert (again.listed, again.unchanged, again.fetched, again.written, again.pruned) == (PAGES, PAGES, 0, 0, 0)
    assert notion.bodies(since=mark) == []
    assert len(counting.embedded) == embedded
    assert {r.path.split("/")[2] for r in notion.since(mark)} == {"search", "databases"}

    # One section of one page edited: that page's blocks alone are read, that section alone is embedded.
    onboarding = page(notion, "Onboarding")
    sections = [text for text in counting.embedded if text.startswith("Onboarding ›")]
    assert len(sections) >= 3, "each section is a chunk of its own"
    notion.edit(onboarding, replace=("the fire exits", "the fire exits and the first-aid kit"))
    mark, embedded = notion.mark(), len(counting.embedded)
    edited = await sources.sync(tenant=tenant, name="wiki")
    assert (edited.unchanged, edited.fetched, edited.written, edited.pruned) == (PAGES - 1, 1, 1, 0)
    assert notion.bodies(since=mark)[0] == onboarding.id
    assert all(r.status == 200 for r in notion.since(mark))
    fresh = counting.embedded[embedded:]
    assert len(fresh) == 1 and fresh[0].startswith("Onboarding › First day") and "first-aid kit" in fresh[0]

    # One page trashed, one no longer shared: both pruned, the second after Notion said so when asked by id.
    holidays, travel = page(notion, "Holidays"), page(notion, "Travel policy")
    notion.trash(holidays)
    travel.shared = False
    mark = notion.mark()
    pruned = await sources.sync(tenant=tenant, name="wiki")
    assert (pruned.error, pruned.listed, pruned.pruned, pruned.fetched) == (None, PAGES - 2, 2, 0)
    asked = [(r.path, r.status) for r in notion.since(mark) if r.path.startswith("/v1/pages/")]
    assert sorted(asked) == sorted([(f"/v1/pages/{holidays.id}", 200), (f"/v1/pages/{travel.id}", 404)])
    assert holidays.url not in await _uris(sources, tenant, "office closes between Christmas and New Year")
    assert travel.url not in await _uris(sources, tenant, "book trains for short trips")
    assert (await sources.get(tenant=tenant, name="wiki")).items == PAGES - 2

    assert await sources.remove(tenant=tenant, name="wiki") == PAGES - 2


async def test_a_page_the_search_misses_for_a_while_is_kept(sources: Sources, notion: FakeNotion, tenant: str) -> None:
    await _add(sources, notion, tenant)
    assert (await sources.sync(tenant=tenant, name="wiki")).written == PAGES
    vpn = page(notion, "VPN")
    vpn.searchable = False  # Notion's index may drop a page for a while
    mark = notion.mark()
    again = await sources.sync(tenant=tenant, name="wiki")
    assert (again.listed, again.unchanged, again.pruned, again.fetched) == (PAGES, PAGES, 0, 0)
    assert [r.path for r in notion.since(mark) if r.path.startswith("/v1/pages/")] == [f"/v1/pages/{vpn.id}"]
    assert vpn.url in await _uris(sources, tenant, "private key WireGuard")


async def test_a_failure_in_the_middle_is_recorded_and_the_next_run_completes(
    sources: Sources, notion: FakeNotion, tenant: str
) -> None:
    await _add(sources, notion, tenant)
    expenses = page(notion, "Expenses")
    notion.fail(f"/v1/blocks/{expenses.id}/children", 503, {"Retry-After": "0"}, times=10)
    failed = await sources.sync(tenant=tenant, name="wiki")
    assert failed.error is not None
    assert "HTTP 503" in failed.error and f"/v1/blocks/{expenses.id}/children" in failed.error
    assert failed.fetched >= 1, "pages before it were read"
    status = await sources.get(tenant=tenant, name="wiki")
    assert (status.state, status.failures, status.items, status.last_error) == ("failed", 1, 0, failed.error)
    assert await _uris(sources, tenant, "office") == set(), "nothing half-written"

    notion.failures.clear()
    done = await sources.sync(tenant=tenant, name="wiki")
    assert (done.error, done.written) == (None, PAGES)
    assert (await sources.get(tenant=tenant, name="wiki")).state == "idle"
    hits = await sources.knowledge.search("office", tenant=tenant, collections=["wiki"], limit=50)
    assert len({(hit.source_uri, hit.content) for hit in hits}) == len(hits), "every page stored once"

    # The listing failing half-way prunes nothing: what it did not reach is not taken for gone.
    notion.fail("/v1/search", 500, {"Retry-After": "0"}, times=10, after=1)
    cut = await sources.sync(tenant=tenant, name="wiki")
    assert cut.error is not None and "HTTP 500" in cut.error and cut.pruned == 0
    assert (await sources.get(tenant=tenant, name="wiki")).items == PAGES


async def test_a_rate_limit_is_waited_out(sources: Sources, notion: FakeNotion, tenant: str) -> None:
    await _add(sources, notion, tenant)
    notion.fail("/v1/search", 429, {"Retry-After": "1"})
    report = await sources.sync(tenant=tenant, name="wiki")
    assert (report.error, report.written) == (None, PAGES)
    limited, retried = [r for r in notion.requests if r.path == "/v1/search"][:2]
    assert (limited.status, retried.status) == (429, 200)
    assert retried.at - limited.at >= 0.9, "Retry-After honoured"


async def test_retry_after_is_honoured_without_waiting_in_tests(notion: FakeNotion) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    notion.fail("/v1/search", 429, {"Retry-After": "30"}, times=2)
    settings = NotionSettings.model_validate({"token": {"env": TOKEN_ENV}, "api_url": notion.base_url})
    http = SourceHttp(max_requests=settings.request_budget, max_bytes=1_000_000, trust_env=False, sleep=sleep)
    connector = NotionConnector(settings, http=http)
    try:
        listed = [item async for item in connector.items()]
    finally:
        await connector.aclose()
        await http.aclose()
    assert len(listed) == PAGES
    assert waits == [30.0, 30.0]


async def test_the_page_cap_ends_the_listing(notion: FakeNotion) -> None:
    settings = NotionSettings.model_validate({"token": {"env": TOKEN_ENV}, "api_url": notion.base_url, "max_pages": 3})
    connector = NotionConnector(settings)
    try:
        listed = [item.title async for item in connector.items()]
    finally:
        await connector.aclose()
    assert listed == ["Onboarding", "VPN", "Expenses"]
    assert [r.body["filter"]["value"] for r in notion.requests] == ["page", "page"], "nothing asked past the cap"


async def test_token_problems_fail_the_run_saying_so(
    sources: Sources, notion: FakeNotion, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _add(sources, notion, tenant)
    monkeypatch.setenv(TOKEN_ENV, "secret_revokedTokenValue")
    rejected = await sources.sync(tenant=tenant, name="wiki")
    assert rejected.error is not None and "token rejected" in rejected.error and f"${TOKEN_ENV}" in rejected.error
    assert "secret_" not in rejected.error
    assert (await sources.get(tenant=tenant, name="wiki")).state == "failed"

    monkeypatch.delenv(TOKEN_ENV)
    missing = await sources.sync(tenant=tenant, name="wiki")
    assert missing.error is not None and f"{TOKEN_ENV} that holds this source's token is not set" in missing.error

    monkeypatch.setenv(TOKEN_ENV, notion.token)
    for shared in notion.pages.values():
        shared.shared = False
    for database in notion.databases.values():
        database.shared = False
    nothing = await sources.sync(tenant=tenant, name="wiki")
    assert nothing.error is not None and "no pages are shared with this Notion integration" in nothing.error


@pytest.mark.parametrize("status", [404, 403])
async def test_a_page_that_cannot_be_read_is_skipped(
    sources: Sources, notion: FakeNotion, tenant: str, status: int
) -> None:
    await _add(sources, notion, tenant)
    vpn = page(notion, "VPN")
    notion.fail(f"/v1/blocks/{vpn.id}/children", status)
    with capture_logs() as logs:
        report = await sources.sync(tenant=tenant, name="wiki")
    assert (report.error, report.listed, report.written) == (None, PAGES, PAGES - 1)
    assert vpn.url not in await _uris(sources, tenant, "private key WireGuard")
    [note] = [entry for entry in logs if entry["event"] == "notion_page_skipped"]
    code = {404: "object_not_found", 403: "restricted_resource"}[status]
    assert note["page"] == vpn.url and f"HTTP {status} ({code})" in note["reason"]


async def test_a_page_read_in_the_minute_of_its_edit_is_read_again(
    sources: Sources, notion: FakeNotion, counting: CountingEmbedder, tenant: str
) -> None:
    # Notion rounds last_edited_time down to the minute: an edit later in this minute would not change it.
    holidays = page(notion, "Holidays")
    holidays.edited = datetime.now(UTC).replace(second=0, microsecond=0)
    await _add(sources, notion, tenant)
    assert (await sources.sync(tenant=tenant, name="wiki")).written == PAGES

    mark, embedded = notion.mark(), len(counting.embedded)
    again = await sources.sync(tenant=tenant, name="wiki")
    assert (again.unchanged, again.fetched, again.written, again.chunks_written) == (PAGES - 1, 1, 0, 0)
    assert notion.bodies(since=mark) == [holidays.id]
    assert len(counting.embedded) == embedded, "its unchanged text costs no embedding"

    # What the connector stores: the mark on the page edited this minute only.
    vpn = page(notion, "VPN")
    connector = NotionConnector(
        NotionSettings.model_validate({"token": {"env": TOKEN_ENV}, "api_url": notion.base_url})
    )
    try:
        listed = {item.key: item async for item in connector.items()}
        recent = await connector.fetch(listed[holidays.id], None)
        old = await connector.fetch(listed[vpn.id], None)
    finally:
        await connector.aclose()
    assert isinstance(recent, Fetched) and recent.version == f"{listed[holidays.id].version}{UNSETTLED}"
    assert isinstance(old, Fetched) and old.version == listed[vpn.id].version == "2025-01-01T00:00:00.000Z"


# The command line, as a person types it.


def _threadwise(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """``run`` with something on standard input (``--token-stdin``)."""
    return subprocess.run(
        [THREADWISE, *args],
        env={**os.environ, "LOG_FORMAT": "json", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow  # starts threadwise processes
def test_the_command_line_adds_and_syncs_a_notion_source(notion: FakeNotion, env: dict[str, str], tenant: str) -> None:
    added = run(
        "sources", "add", "notion", "--token-env", TOKEN_ENV, "--collection", "wiki", "--name", "wiki",
        "--every", "6h", "--tenant", tenant, "--api-url", notion.base_url, **env, **{TOKEN_ENV: notion.token},
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Added source wiki (notion, every 6h) → wiki." in added.stdout
    assert f"{PAGES} listed" in added.stdout and f"{PAGES} written" in added.stdout
    shown = json.loads(run("sources", "show", "wiki", "--tenant", tenant, **env).stdout)
    assert shown["settings"] == {"token": f"${TOKEN_ENV}", "api_url": notion.base_url, "max_pages": 1000}
    assert (shown["kind"], shown["items"], shown["last_error"]) == ("notion", PAGES, None)

    # A token given on standard input is stored sealed, and opened with the key at each sync.
    key = _threadwise("sources", "key", **env).stdout.strip()
    sealed = _threadwise(
        "sources", "add", "notion", "--token-stdin", "--collection", "notes", "--name", "notes", "--no-sync",
        "--tenant", tenant, "--api-url", notion.base_url,
        stdin=notion.token + "\n", **env, KNOWLEDGE_SOURCES_SECRET_KEY=key,
    )  # fmt: skip
    assert sealed.returncode == 0, sealed.stderr
    assert "Added source notes (notion, on demand) → notes." in sealed.stdout and "listed" not in sealed.stdout
    listing = run("sources", "show", "notes", "--tenant", tenant, **env).stdout
    assert notion.token not in listing and '"sealed"' in listing
    synced = run("sources", "sync", "notes", "--tenant", tenant, **env, KNOWLEDGE_SOURCES_SECRET_KEY=key)
    assert synced.returncode == 0 and f"{PAGES} written" in synced.stdout, synced.stderr

    # A rejected token: the reason, no traceback, no token.
    rejected = run("sources", "sync", "wiki", "--tenant", tenant, **env, **{TOKEN_ENV: "secret_wrong"})
    assert rejected.returncode == 1 and "token rejected" in rejected.stderr and "secret_wrong" not in rejected.stderr
    assert_no_traceback(rejected)


@pytest.mark.slow
def test_the_command_line_wants_one_way_to_give_the_token(env: dict[str, str], tenant: str) -> None:
    both = run("sources", "add", "notion", "--token-env", TOKEN_ENV, "--token-stdin", "-c", "wiki", **env)
    neither = run("sources", "add", "notion", "-c", "wiki", "--tenant", tenant, **env)
    for result in (both, neither):
        assert result.returncode == 2 and "--token-env NAME or --token-stdin" in result.stderr
        assert_no_traceback(result)
    no_collection = run("sources", "add", "notion", "--token-env", TOKEN_ENV, **env)
    assert no_collection.returncode == 2 and "--collection" in no_collection.stderr
