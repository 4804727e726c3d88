"""A Confluence space synced into a collection through ``Sources``, the engine and the real connector, against a fake
of Confluence Cloud's REST API v2 on 127.0.0.1: first sync, an unchanged re-sync (no body fetched), an edit, a
deletion, ancestors leading the heading path, a code macro kept as code, errors people can act on, a failure in the
middle, a 429 honoured, and the ``sources add confluence`` command."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker
from core.settings import KnowledgeSettings
from knowledge.embeddings import LocalEmbedder
from knowledge.errors import KnowledgeError
from knowledge.service import KnowledgeBase
from knowledge.sources.confluence import ConfluenceConnector, ConfluenceSettings
from knowledge.sources.connectors import ConnectorKind, ConnectorKinds, RunContext
from knowledge.sources.http import SourceHttp
from knowledge.sources.service import Sources
from tests.counting_embedder import CountingEmbedder
from tests.fakes.confluence_api import API, FakeConfluence, serving_confluence, storage_page
from tests.integration.helpers.cli import THREADWISE, assert_no_traceback, env, run

__all__ = ["env"]

TOKEN_ENV = "CONFLUENCE_TEST_TOKEN"
GUIDES = 9
ROLLBACK = """
<p>Roll back a release when its error rate climbs after a deploy.</p>
<ac:structured-macro ac:name="warning" ac:schema-version="1"><ac:rich-text-body>
<p>Never roll back while a database migration is running.</p></ac:rich-text-body></ac:structured-macro>
<h2>Steps</h2>
<p>Run the rollback script with the previous release tag:</p>
<ac:structured-macro ac:name="code" ac:schema-version="1" ac:macro-id="7f3e">
<ac:parameter ac:name="language">bash</ac:parameter>
<ac:plain-text-body><![CDATA[deploy rollback --to "$PREVIOUS_TAG" && echo "<rolled back>"]]></ac:plain-text-body>
</ac:structured-macro>
"""


def _guide(number: int, extra: str = "") -> str:
    return (
        storage_page("Install", f"Guide {number} installs the frobnicator number {number} on a workstation.")
        + storage_page("Configure", f"Guide {number} sets the frobnicator's colour to shade {number}.{extra}")
        + storage_page("Troubleshoot", f"Guide {number} restarts the frobnicator when it hums at {number} hertz.")
    )


def _space(site: FakeConfluence, *, guides: int = GUIDES) -> FakeConfluence:
    site.add("1001", "Runbooks", storage_page("Runbooks", "How the team runs production."))
    site.add("1002", "Deploy", storage_page("Deploy", "Deploys go out from the release branch."), parent="1001")
    site.add("1003", "Rollback", ROLLBACK, parent="1002")
    for number in range(guides):
        site.add(str(1010 + number), f"Guide {number}", _guide(number))
    return site


@pytest.fixture
def site() -> Iterator[FakeConfluence]:
    # Four pages a listing: the listing of 13 pages takes four requests, through the cursor.
    with serving_confluence(_space(FakeConfluence(max_limit=4))) as served:
        yield served


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def knowledge(engine: AsyncEngine, counting: CountingEmbedder) -> KnowledgeBase:
    return KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=counting, settings=KnowledgeSettings())


class Sleeps(list[float]):
    """An injected sleep: records how long it was asked to wait, waits not at all."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def patient(knowledge: KnowledgeBase, sleeps: Sleeps) -> AsyncIterator[Sources]:
    """``Sources`` whose Confluence connector sleeps through ``sleeps`` (the built-in kind, with a test clock)."""
    clients: list[SourceHttp] = []

    def build(settings: ConfluenceSettings, context: RunContext) -> ConfluenceConnector:
        http = SourceHttp(
            max_requests=settings.request_budget, max_bytes=context.max_bytes, trust_env=False, sleep=sleeps
        )
        clients.append(http)
        return ConfluenceConnector(settings, secret_key=context.secret_key, http=http)

    yield Sources(knowledge, extra_kinds=[ConnectorKind(kind="confluence", settings=ConfluenceSettings, build=build)])
    for client in clients:
        await client.aclose()


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The token every fake site accepts, where the sources' settings say to read it."""
    accepted = FakeConfluence().token
    monkeypatch.setenv(TOKEN_ENV, accepted)
    return accepted


async def _add(sources: Sources, site: FakeConfluence, tenant: str, **settings: object) -> None:
    await sources.add(
        tenant=tenant,
        name="wiki",
        kind="confluence",
        collection="wiki",
        settings={
            "base_url": site.base_url,
            "space": site.space_key,
            "email": site.email,
            "token": {"env": TOKEN_ENV},
            **settings,
        },
    )


async def test_a_space_synced_then_kept_in_step(
    knowledge: KnowledgeBase, site: FakeConfluence, counting: CountingEmbedder, token: str, tenant: str
) -> None:
    sources = Sources(knowledge)  # the built-in kind, as the worker and the command line build it
    await _add(sources, site, tenant)
    pages = site.current()
    first = await sources.sync(tenant=tenant, name="wiki")
    assert first.error is None and first.failed == []
    assert (first.listed, first.fetched, first.written) == (len(pages), len(pages), len(pages))
    listings = site.listings()
    assert len(listings) == 4 and all("limit=250" in path and "status=current" in path for path in listings)
    assert all("cursor=" in path for path in listings[1:])
    assert all(request.authorized for request in site.requests)
    status = await sources.get(tenant=tenant, name="wiki")
    assert (status.state, status.items, status.last_error) == ("idle", len(pages), None)
    hits = await knowledge.search("frobnicator colour shade 7", tenant=tenant, collections=["wiki"])
    assert hits[0].source_uri == site.link("1017") and hits[0].url == site.link("1017")
    assert hits[0].heading_path == "Guide 7 › Configure"

    # Unchanged: the listing only; no body fetched, nothing embedded.
    mark, embedded = site.mark(), len(counting.embedded)
    again = await sources.sync(tenant=tenant, name="wiki")
    assert (again.unchanged, again.fetched, again.written, again.pruned) == (len(pages), 0, 0, 0)
    assert site.bodies(since=mark) == [] and len(site.paths(since=mark)) == 5  # the space, then four listings
    assert len(counting.embedded) == embedded

    # One page edited (one of its three sections), one deleted.
    site.edit("1014", _guide(4, extra=" Its colour is now reset by the rotation of signing keys."))
    site.delete("1016")
    mark = site.mark()
    changed = await sources.sync(tenant=tenant, name="wiki")
    assert (changed.fetched, changed.written, changed.pruned) == (1, 1, 1)
    assert site.bodies(since=mark) == ["1014"]
    re_embedded = counting.embedded[embedded:]
    assert len(re_embedded) == 1 and "rotation of signing keys" in re_embedded[0], re_embedded
    hits = await knowledge.search("rotation of signing keys", tenant=tenant, collections=["wiki"])
    assert hits[0].source_uri == site.link("1014")
    found = await knowledge.search("Guide 6 frobnicator", tenant=tenant, collections=["wiki"], limit=50)
    assert site.link("1016") not in {hit.source_uri for hit in found}
    assert (await sources.get(tenant=tenant, name="wiki")).items == len(pages) - 1


async def test_ancestors_lead_the_heading_path_and_code_stays_code(
    knowledge: KnowledgeBase, site: FakeConfluence, token: str, tenant: str
) -> None:
    sources = Sources(knowledge)
    await _add(sources, site, tenant)
    assert (await sources.sync(tenant=tenant, name="wiki")).error is None
    hits = await knowledge.search("rollback script previous release tag", tenant=tenant, collections=["wiki"])
    top = hits[0]
    assert top.source_uri == site.link("1003")
    # The space's homepage is above every page: like the page tree, the path leaves it out.
    assert top.title == "Runbooks › Deploy › Rollback"
    assert top.heading_path == "Runbooks › Deploy › Rollback › Steps"
    assert '```bash\ndeploy rollback --to "$PREVIOUS_TAG" && echo "<rolled back>"\n```' in top.content
    panel = await knowledge.search("database migration running", tenant=tenant, collections=["wiki"])
    assert "Warning: Never roll back while a database migration is running." in panel[0].content
    assert panel[0].heading_path == "Runbooks › Deploy › Rollback"

    # A page above renamed: its descendants are read again (their own version did not change) under the new path.
    site.rename("1002", "Deployments")
    mark = site.mark()
    renamed = await sources.sync(tenant=tenant, name="wiki")
    assert sorted(site.bodies(since=mark)) == ["1002", "1003"] and renamed.written == 2
    hits = await knowledge.search("rollback script previous release tag", tenant=tenant, collections=["wiki"])
    assert hits[0].heading_path == "Runbooks › Deployments › Rollback › Steps"
    # A page moved (which makes no new version in Confluence) is read again too.
    site.move("1003", "1001")
    mark = site.mark()
    assert (await sources.sync(tenant=tenant, name="wiki")).written == 1
    assert site.bodies(since=mark) == ["1003"]
    hits = await knowledge.search("rollback script previous release tag", tenant=tenant, collections=["wiki"])
    assert hits[0].heading_path == "Runbooks › Rollback › Steps"


async def test_an_api_error_in_the_middle_is_recorded_and_the_next_run_completes(
    patient: Sources, sleeps: Sleeps, token: str, tenant: str
) -> None:
    with serving_confluence(_space(FakeConfluence(), guides=30)) as site:
        await _add(patient, site, tenant)
        pages = site.current()
        failing = pages[27]  # after the first batch of 25 documents is written
        site.fail(f"{API}/pages/{failing}", 500, times=10)
        failed = await patient.sync(tenant=tenant, name="wiki")
        assert failed.error is not None
        assert "HTTP 500" in failed.error and f"/pages/{failing}" in failed.error and site.token not in failed.error
        assert len(sleeps) == 3  # retried with backoff before giving up
        status = await patient.get(tenant=tenant, name="wiki")
        assert (status.state, status.failures, status.last_error) == ("failed", 1, failed.error)

        site.failures.clear()
        mark = site.mark()
        done = await patient.sync(tenant=tenant, name="wiki")
        assert done.error is None
        # The first batch was stored whole, with its versions: only what the failed run did not record is read.
        assert (done.unchanged, done.fetched) == (25, len(pages) - 25)
        assert sorted(site.bodies(since=mark)) == pages[25:]
        status = await patient.get(tenant=tenant, name="wiki")
        assert (status.state, status.failures, status.items) == ("idle", 0, len(pages))
        # Each page stored once: no section of any page is found twice.
        hits = await patient.knowledge.search("frobnicator hums hertz", tenant=tenant, collections=["wiki"], limit=200)
        assert len({(hit.source_uri, hit.heading_path) for hit in hits}) == len(hits) >= 30


async def test_a_429_with_retry_after_is_honoured(
    patient: Sources, sleeps: Sleeps, site: FakeConfluence, token: str, tenant: str
) -> None:
    await _add(patient, site, tenant)
    site.fail(f"{API}/spaces/{site.space_id}/pages", 429, {"Retry-After": "7"})
    site.fail(f"{API}/pages/1012", 429, {"Retry-After": "2"})
    report = await patient.sync(tenant=tenant, name="wiki")
    assert report.error is None and report.written == len(site.current())
    assert sleeps == [7.0, 2.0]


async def test_refusals_are_errors_people_can_act_on(
    patient: Sources, site: FakeConfluence, monkeypatch: pytest.MonkeyPatch, tenant: str
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    await _add(patient, site, tenant)

    async def error() -> str:
        report = await patient.sync(tenant=tenant, name="wiki")
        assert report.error is not None and report.written == 0
        assert site.token not in report.error and "Traceback" not in report.error
        assert (await patient.get(tenant=tenant, name="wiki")).state == "failed"
        return report.error

    assert f"the environment variable {TOKEN_ENV} that holds this source's token is not set" in await error()
    assert site.requests == []  # nothing is asked without a token

    monkeypatch.setenv(TOKEN_ENV, "a-revoked-token")
    assert "rejected the API token of docs-bot@example.test (HTTP 401)" in await error()

    monkeypatch.setenv(TOKEN_ENV, site.token)
    site.fail(f"{API}/spaces", 403)
    assert "docs-bot@example.test may not read space ENG" in await error()

    site.hidden = True
    message = await error()
    assert message == (f"space ENG not found at {site.base_url}, or not visible to docs-bot@example.test"), message

    site.hidden = False
    assert (await patient.sync(tenant=tenant, name="wiki")).error is None


async def test_a_page_over_the_size_cap_is_left_out_and_the_rest_synced(
    engine: AsyncEngine, embedder: LocalEmbedder, site: FakeConfluence, token: str, tenant: str
) -> None:
    settings = KnowledgeSettings(max_file_bytes=20_000)
    sources = Sources(KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=embedder, settings=settings))
    site.edit("1015", storage_page("Huge", "A table dumped into a page. " * 1000))
    await _add(sources, site, tenant)
    report = await sources.sync(tenant=tenant, name="wiki")
    assert report.error is None and report.written == len(site.current()) - 1
    assert site.link("1015") not in {
        hit.source_uri for hit in await sources.knowledge.search("table dumped", tenant=tenant, collections=["wiki"])
    }


def test_settings_are_checked() -> None:
    kinds = ConnectorKinds()
    base = {"space": "ENG", "email": "bot@example.test", "token": {"env": "T"}}
    checked = kinds.validate("confluence", {**base, "base_url": "https://Example.atlassian.net/wiki/"})
    assert isinstance(checked, ConfluenceSettings) and checked.base_url == "https://example.atlassian.net"
    for bad, says in [
        ({"base_url": "http://example.atlassian.net"}, "use https"),
        ({"base_url": "https://example.atlassian.net/wiki/spaces/ENG"}, "give the site's address"),
        ({"base_url": "https://x.atlassian.net", "space": "ENG/../x"}, "space"),
        ({"base_url": "https://x.atlassian.net", "token": "plain-token"}, "token"),
        ({"base_url": "https://x.atlassian.net", "password": "x"}, "password"),
    ]:
        with pytest.raises(KnowledgeError, match=says):
            kinds.validate("confluence", {**base, **bad})


@pytest.mark.slow  # starts threadwise processes
def test_sources_add_confluence(site: FakeConfluence, env: dict[str, str], tenant: str) -> None:
    pages = len(site.current())
    added = run(
        "sources", "add", "confluence", site.base_url, "--space", "ENG", "--email", site.email,
        "--token-env", "WIKI_TOKEN", "--collection", "wiki", "--every", "6h", "--tenant", tenant,
        **env, WIKI_TOKEN=site.token,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Added source confluence-eng (confluence, every 6h) → wiki." in added.stdout
    assert f"{pages} listed" in added.stdout and f"{pages} written" in added.stdout
    again = run("sources", "sync", "confluence-eng", "--tenant", tenant, **env, WIKI_TOKEN=site.token)
    assert f"{pages} unchanged, 0 fetched" in again.stdout, again.stdout + again.stderr

    # A token given on standard input is stored sealed with the deployment's key, never in clear.
    key = run("sources", "key", **env).stdout.strip()
    sealed = subprocess.run(
        [THREADWISE, "sources", "add", "confluence", f"{site.base_url}/wiki", "--space", "ENG", "--email",
         site.email, "--token-stdin", "--collection", "wiki-sealed", "--name", "sealed", "--tenant", tenant],
        input=site.token + "\n", env={**os.environ, "LOG_FORMAT": "json", **env, "KNOWLEDGE_SOURCES_SECRET_KEY": key},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert sealed.returncode == 0, sealed.stderr
    assert f"{pages} written" in sealed.stdout
    shown = run("sources", "show", "sealed", "--tenant", tenant, **env)
    assert site.token not in shown.stdout
    assert json.loads(shown.stdout)["settings"]["token"] == "sealed"

    no_token = run(
        "sources", "add", "confluence", site.base_url, "--space", "ENG", "--email", site.email,
        "--collection", "wiki", "--tenant", tenant, **env,
    )  # fmt: skip
    assert no_token.returncode != 0 and "--token-env NAME or --token-stdin" in no_token.stderr
    plain_http = run(
        "sources", "add", "confluence", "http://wiki.example.test", "--space", "ENG", "--email", site.email,
        "--token-env", "WIKI_TOKEN", "--collection", "wiki", "--name", "insecure", "--tenant", tenant, **env,
    )  # fmt: skip
    assert plain_http.returncode == 1 and "use https" in plain_http.stderr
    for result in (added, again, sealed, no_token, plain_http):
        assert_no_traceback(result)
