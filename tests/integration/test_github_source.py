"""A GitHub repository source synced into a collection through ``Sources``, the real connector and the real embedder,
against a fake of GitHub's REST API on 127.0.0.1: first sync, unchanged re-sync, an edit, a deletion, failures in
the middle, rate limits, tokens, branches, published links; and ``threadwise sources add github`` as typed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker
from core.settings import KnowledgeSettings
from knowledge.errors import KnowledgeError
from knowledge.service import KnowledgeBase
from knowledge.sources.connectors import ConnectorKind, RunContext
from knowledge.sources.github import GithubConnector, GithubSettings
from knowledge.sources.http import SourceHttp
from knowledge.sources.service import Sources
from tests.counting_embedder import CountingEmbedder
from tests.fakes.github_api import DOC_PATHS_BESIDES_TOPICS, FakeGithub, handbook, serving_github
from tests.integration.helpers.cli import assert_no_traceback, env, run

__all__ = ["env"]

TOPICS = 12
DOCS = len(DOC_PATHS_BESIDES_TOPICS) + TOPICS
TOKEN_ENV = "THREADWISE_TEST_GITHUB_TOKEN"


class Sleeps(list[float]):
    """An injected sleep: records how long it was asked to wait, waits not at all."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def github() -> Iterator[FakeGithub]:
    with serving_github(FakeGithub(files=handbook(TOPICS))) as served:
        yield served


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def knowledge(engine: AsyncEngine, counting: CountingEmbedder) -> KnowledgeBase:
    return KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=counting, settings=KnowledgeSettings())


@pytest.fixture
def sources(knowledge: KnowledgeBase) -> Sources:
    """The deployment's sources: the github kind as built in."""
    return Sources(knowledge)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest_asyncio.fixture
async def patient_sources(knowledge: KnowledgeBase, sleeps: Sleeps) -> AsyncIterator[Sources]:
    """The same kind, but its client records the waits (Retry-After, backoff) instead of sleeping them."""
    clients: list[SourceHttp] = []

    def build(settings: GithubSettings, context: RunContext) -> GithubConnector:
        http = SourceHttp(max_requests=settings.request_budget, max_bytes=context.max_bytes, sleep=sleeps)
        clients.append(http)
        return GithubConnector(settings, secret_key=context.secret_key, http=http, max_bytes=context.max_bytes)

    yield Sources(knowledge, extra_kinds=[ConnectorKind(kind="github", settings=GithubSettings, build=build)])
    for http in clients:
        await http.aclose()


async def _add(sources: Sources, github: FakeGithub, tenant: str, **settings: Any) -> None:
    await sources.add(
        tenant=tenant,
        name="handbook",
        kind="github",
        collection="handbook",
        settings={"repository": github.repository, "api_url": github.base_url, **settings},
    )


def _link(github: FakeGithub, path: str, branch: str = "main") -> str:
    return f"{github.base_url}/{github.repository}/blob/{branch}/{path}"


async def test_a_repository_synced_then_kept_in_step(
    sources: Sources, github: FakeGithub, counting: CountingEmbedder, tenant: str
) -> None:
    await _add(sources, github, tenant)
    first = await sources.sync(tenant=tenant, name="handbook")
    assert first.error is None and first.failed == []
    assert (first.listed, first.written) == (DOCS, DOCS)
    status = await sources.get(tenant=tenant, name="handbook")
    assert (status.state, status.items, status.last_error) == ("idle", DOCS, None)
    # The default branch from the repository, its whole tree in one request, then one raw blob per document.
    requests = github.log()
    assert [r.route for r in requests[:2]] == ["repository", "tree"]
    assert requests[1].path == "/repos/acme/handbook/git/trees/main?recursive=1"
    assert {r.route for r in requests[2:]} == {"blob"} and len(requests) == 2 + DOCS
    assert {r.accept for r in requests[:2]} == {"application/vnd.github+json"}
    assert {r.accept for r in requests[2:]} == {"application/vnd.github.raw+json"}
    assert {r.api_version for r in requests} == {"2022-11-28"}
    assert {r.authorization for r in requests} == {None}  # a public repository needs no token

    hits = await sources.knowledge.search("What does topic 7 explain?", tenant=tenant, collections=["handbook"])
    assert hits[0].source_uri == _link(github, "docs/topics/topic-7.md")
    assert hits[0].url == hits[0].source_uri and hits[0].title.startswith("Topic 7")
    rst = await sources.knowledge.search("API pages with cursors", tenant=tenant, collections=["handbook"])
    assert rst[0].source_uri == _link(github, "docs/reference/api.rst") and rst[0].title.startswith("API reference")
    # A relative link in a file leads to the file it names on GitHub.
    readme = await sources.knowledge.search("team handbook guide", tenant=tenant, collections=["handbook"])
    assert readme[0].source_uri == _link(github, "README.md")
    assert f"[the guide]({_link(github, 'docs/index.md')})" in readme[0].content
    everything = await sources.knowledge.search(
        "bug report code png", tenant=tenant, collections=["handbook"], limit=100
    )
    assert not {hit.source_uri for hit in everything} & {
        _link(github, path) for path in (".github/ISSUE_TEMPLATE/bug.md", "src/app.py", "docs/logo.png")
    }

    # Unchanged: the repository and its tree are asked for, no file body, nothing embedded.
    mark, embedded = github.mark(), len(counting.embedded)
    again = await sources.sync(tenant=tenant, name="handbook")
    assert (again.unchanged, again.fetched, again.written, again.pruned, again.chunks_written) == (DOCS, 0, 0, 0, 0)
    assert [r.route for r in github.log(since=mark)] == ["repository", "tree"]
    assert len(counting.embedded) == embedded

    # One section of a long file edited, one file deleted: one body fetched, only the changed chunks embedded.
    github.edit("docs/operations.md", "Runbook 5 covers", "Runbook 5 now also covers the rotation of signing keys and")
    github.delete("docs/topics/topic-4.md")
    mark, embedded = github.mark(), len(counting.embedded)
    changed = await sources.sync(tenant=tenant, name="handbook")
    assert (changed.fetched, changed.written, changed.pruned) == (1, 1, 1)
    assert github.blobs_sent(since=mark) == ["docs/operations.md"]
    re_embedded = counting.embedded[embedded:]
    assert 1 <= len(re_embedded) <= 3 and all("Runbook 5" in text for text in re_embedded), re_embedded  # of 18
    hits = await sources.knowledge.search("rotation of signing keys", tenant=tenant, collections=["handbook"])
    assert hits[0].source_uri == _link(github, "docs/operations.md") and "signing keys" in hits[0].content
    topics = await sources.knowledge.search("topic 4", tenant=tenant, collections=["handbook"], limit=100)
    assert _link(github, "docs/topics/topic-4.md") not in {hit.source_uri for hit in topics}
    assert (await sources.get(tenant=tenant, name="handbook")).items == DOCS - 1

    assert await sources.remove(tenant=tenant, name="handbook") == DOCS - 1
    assert await sources.knowledge.search("topic", tenant=tenant, collections=["handbook"]) == []


async def test_a_rate_limit_in_the_middle_fails_the_run_and_the_next_run_completes(
    sources: Sources, tenant: str
) -> None:
    with serving_github(FakeGithub(files=handbook(30))) as github:
        await _add(sources, github, tenant)
        paths = sorted(path for path in github.files if path.endswith((".md", ".mdx", ".rst", ".txt")))
        paths = [path for path in paths if not path.startswith(".github/")]
        # The 28th body: the first batch of 25 documents is written by then, the next ones are not yet.
        github.spend_rate_limit(github.blob_route(paths[27]))
        failed = await sources.sync(tenant=tenant, name="handbook")
        assert failed.error is not None
        assert failed.error.startswith("GitHub's API rate limit is used up until 2030-03-17 17:46 UTC (in ")
        status = await sources.get(tenant=tenant, name="handbook")
        assert (status.state, status.failures, status.last_error) == ("failed", 1, failed.error)
        assert status.items == 25 and status.last_success_at is None
        stored = await sources.knowledge.search("topic", tenant=tenant, collections=["handbook"], limit=200)
        assert {hit.source_uri for hit in stored} <= {_link(github, path) for path in paths[:25]}

        mark = github.mark()
        done = await sources.sync(tenant=tenant, name="handbook")
        assert done.error is None and (done.unchanged, done.fetched) == (25, len(paths) - 25)
        assert github.blobs_sent(since=mark) == paths[25:]
        status = await sources.get(tenant=tenant, name="handbook")
        assert (status.state, status.failures, status.items) == ("idle", 0, len(paths))


async def test_a_server_error_is_retried_then_fails_the_run_naming_it(
    patient_sources: Sources, github: FakeGithub, sleeps: Sleeps, tenant: str
) -> None:
    await _add(patient_sources, github, tenant)
    blob = github.blob_route("docs/topics/topic-2.md")
    github.fail(blob, 502, times=10)
    failed = await patient_sources.sync(tenant=tenant, name="handbook")
    assert failed.error == f"HTTP 502 from {github.base_url}{blob} after 4 attempts"
    assert len(sleeps) == 3
    assert (await patient_sources.get(tenant=tenant, name="handbook")).state == "failed"

    github.failures.clear()
    done = await patient_sources.sync(tenant=tenant, name="handbook")
    assert done.error is None and (await patient_sources.get(tenant=tenant, name="handbook")).items == DOCS


async def test_a_429_with_retry_after_is_honoured(
    patient_sources: Sources, github: FakeGithub, sleeps: Sleeps, tenant: str
) -> None:
    await _add(patient_sources, github, tenant)
    github.fail(github.tree_route(), 429, {"Retry-After": "7"}, message="You have exceeded a secondary rate limit.")
    report = await patient_sources.sync(tenant=tenant, name="handbook")
    assert report.error is None and report.written == DOCS
    assert sleeps == [7.0]
    assert [r.status for r in github.log(route="tree")] == [429, 200]


async def test_links_go_to_the_published_site_with_a_url_base(
    sources: Sources, github: FakeGithub, tenant: str
) -> None:
    await _add(sources, github, tenant, url_base="https://docs.example.com/handbook/", site_folder="docs")
    assert (await sources.sync(tenant=tenant, name="handbook")).error is None

    async def first_hit(query: str) -> Any:
        return (await sources.knowledge.search(query, tenant=tenant, collections=["handbook"]))[0]

    topic = await first_hit("How long does setting up topic 4 take?")
    assert topic.source_uri == _link(github, "docs/topics/topic-4.md")
    assert topic.url == "https://docs.example.com/handbook/topics/topic-4/"
    assert (await first_hit("API pages with cursors")).url == "https://docs.example.com/handbook/reference/api.html"
    assert (await first_hit("Buttons come in three sizes")).url == "https://docs.example.com/handbook/components"
    guide = await first_hit("Read topic 1 first, then the API")
    assert guide.url == "https://docs.example.com/handbook/"
    assert "[topic 1](https://docs.example.com/handbook/topics/topic-1/)" in guide.content
    # Outside the site's folder, files are read on GitHub.
    assert (await first_hit("team handbook guide")).url == _link(github, "README.md")


async def test_a_token_is_sent_and_a_missing_or_wrong_one_is_a_clear_error(
    sources: Sources, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "github_pat_11ABCDEFG0123456789_secret"
    with serving_github(FakeGithub(files=handbook(2), token=secret)) as github:
        await _add(sources, github, tenant, token={"env": TOKEN_ENV})
        monkeypatch.delenv(TOKEN_ENV, raising=False)
        missing = await sources.sync(tenant=tenant, name="handbook")
        assert missing.error == f"the environment variable {TOKEN_ENV} that holds this source's token is not set"
        assert (await sources.get(tenant=tenant, name="handbook")).last_error == missing.error
        assert github.log() == []  # the token is read before anything is asked

        monkeypatch.setenv(TOKEN_ENV, secret)
        done = await sources.sync(tenant=tenant, name="handbook")
        assert done.error is None and done.written == len(DOC_PATHS_BESIDES_TOPICS) + 2
        assert {r.authorization for r in github.log()} == {f"Bearer {secret}"}

        monkeypatch.setenv(TOKEN_ENV, "github_pat_expired")
        rejected = await sources.sync(tenant=tenant, name="handbook")
        assert rejected.error is not None and "token rejected" in rejected.error and "Bad credentials" in rejected.error
        assert "github_pat" not in rejected.error

    with serving_github(FakeGithub(files=handbook(2), token=secret)) as private:
        await sources.add(
            tenant=tenant, name="anonymous", kind="github", collection="handbook",
            settings={"repository": private.repository, "api_url": private.base_url},
        )  # fmt: skip
        hidden = await sources.sync(tenant=tenant, name="anonymous")
        assert hidden.error == "GitHub: repository acme/handbook not found (or the token cannot see it)"


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        (
            403,
            {"Retry-After": "60"},
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "GitHub's secondary rate limit stopped the sync (You have exceeded a secondary rate limit. Please wait a "
            "few minutes before you try again.); try again in 60 s or more",
        ),
        (
            403,
            {},
            "Resource not accessible by personal access token",
            "GitHub refused access to acme/handbook (HTTP 403: Resource not accessible by personal access token); "
            "the token needs read-only Contents permission on it",
        ),
        (409, {}, "Git Repository is empty.", "GitHub: repository acme/handbook is empty (Git Repository is empty.)"),
    ],
)
async def test_other_refusals_say_what_to_do(
    sources: Sources, github: FakeGithub, tenant: str, status: int, headers: dict[str, str], message: str, expected: str
) -> None:
    await _add(sources, github, tenant)
    github.fail(github.tree_route(), status, headers, message=message)
    failed = await sources.sync(tenant=tenant, name="handbook")
    assert failed.error == expected
    assert [r.status for r in github.log(route="tree")] == [status]  # a 403 is not retried


async def test_a_branch_of_its_own_with_a_slash_in_its_name(sources: Sources, github: FakeGithub, tenant: str) -> None:
    github.branches["release/2.0"] = {"docs/upgrade.md": b"# Upgrade\n\nRelease 2.0 drops the legacy importer.\n"}
    await _add(sources, github, tenant, branch="release/2.0")
    report = await sources.sync(tenant=tenant, name="handbook")
    assert report.error is None and report.written == 1
    assert [r.path for r in github.log()[:1]] == ["/repos/acme/handbook/git/trees/release%2F2.0?recursive=1"]
    hits = await sources.knowledge.search("legacy importer", tenant=tenant, collections=["handbook"])
    assert hits[0].source_uri == _link(github, "docs/upgrade.md", branch="release/2.0")

    await sources.add(
        tenant=tenant, name="gone", kind="github", collection="handbook",
        settings={"repository": github.repository, "api_url": github.base_url, "branch": "nope"},
    )  # fmt: skip
    missing = await sources.sync(tenant=tenant, name="gone")
    assert (
        missing.error == "GitHub: repository acme/handbook or its branch 'nope' not found (or the token cannot see it)"
    )


async def test_a_tree_too_big_for_one_answer_is_listed_folder_by_folder(sources: Sources, tenant: str) -> None:
    # Over 13 entries is too many: the root and docs/ (recursively) are, docs/topics/ (12 files) is not.
    with serving_github(FakeGithub(files=handbook(TOPICS), truncate_over=13)) as github:
        await _add(sources, github, tenant)
        report = await sources.sync(tenant=tenant, name="handbook")
        assert report.error is None and report.listed == DOCS
        trees = [r.path.removeprefix("/repos/acme/handbook/git/trees/") for r in github.log(route="tree")]
        assert trees[:2] == ["main?recursive=1", "main"]  # cut short, so level by level
        assert any(not path.startswith("main") for path in trees[2:])  # a folder, by its tree's sha

        github.truncate_over = 11  # now docs/topics/ alone is more than one answer holds
        failed = await sources.sync(tenant=tenant, name="handbook")
        assert (
            failed.error == "the folder docs/topics/ of acme/handbook has more entries than GitHub's API lists at once"
        )


async def test_globs_choose_the_files_and_caps_fail_clearly(sources: Sources, github: FakeGithub, tenant: str) -> None:
    await _add(sources, github, tenant, globs=["docs/topics/*.md", "!docs/topics/topic-1*.md"])
    report = await sources.sync(tenant=tenant, name="handbook")
    assert report.error is None and report.listed == TOPICS - 3  # topic-1, topic-10 and topic-11 left out

    cases: list[tuple[str, dict[str, Any], str]] = [
        ("capped", {"max_files": 3}, f"{DOCS} files of acme/handbook (branch 'main') match the globs, more than "),
        ("nothing", {"globs": ["*.adoc"]}, "no file of acme/handbook (branch 'main') matches the globs *.adoc"),
    ]
    for name, settings, error in cases:
        await sources.add(
            tenant=tenant, name=name, kind="github", collection="handbook",
            settings={"repository": github.repository, "api_url": github.base_url, **settings},
        )  # fmt: skip
        failed = await sources.sync(tenant=tenant, name=name)
        assert failed.error is not None and failed.error.startswith(error), failed.error


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"repository": "acme"}, "repository: Value error, not OWNER/NAME of a GitHub repository: 'acme'"),
        ({"repository": "acme/../x"}, "not OWNER/NAME"),
        ({"repository": "acme/handbook", "branch": "a..b"}, "not a branch name"),
        ({"repository": "acme/handbook", "globs": ["!"]}, "not a glob: '!'"),
        ({"repository": "acme/handbook", "url_base": "docs.example.com"}, "must start with http:// or https://"),
        ({"repository": "acme/handbook", "api_url": "https://user:pw@github.example.com"}, "no credentials"),
        ({"repository": "acme/handbook", "token": "ghp_in_clear"}, "token"),
        ({"repository": "acme/handbook", "bogus": 1}, "bogus: Extra inputs are not permitted"),
    ],
)
async def test_bad_settings_are_refused_before_anything_is_stored(
    sources: Sources, tenant: str, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(KnowledgeError) as refused:
        await sources.add(tenant=tenant, name="bad", kind="github", collection="handbook", settings=settings)
    assert str(refused.value).startswith("github source settings: ") and problem in str(refused.value)
    assert await sources.statuses(tenant=tenant) == []


@pytest.mark.slow  # starts threadwise processes
def test_the_command_adds_syncs_and_shows_a_repository(github: FakeGithub, env: dict[str, str], tenant: str) -> None:
    github.token = "github_pat_cli_secret"
    env = {**env, TOKEN_ENV: "github_pat_cli_secret"}
    added = run(
        "sources", "add", "github", github.repository, "--api-url", github.base_url, "--token-env", TOKEN_ENV,
        "--glob", "docs/**/*.md", "--glob", "README.md", "--url-base", "https://docs.example.com",
        "--site-folder", "docs", "--collection", "handbook", "--every", "6h", "--tenant", tenant, **env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    markdown = 3 + TOPICS  # README, docs/index.md, docs/operations.md and the topics (not the .mdx, not the .rst)
    assert "Added source acme/handbook (github, every 6h) → handbook." in added.stdout
    assert f"{markdown} listed" in added.stdout and f"{markdown} written" in added.stdout

    shown = json.loads(run("sources", "show", "acme/handbook", "--tenant", tenant, **env).stdout)
    assert shown["settings"]["token"] == f"${TOKEN_ENV}" and "github_pat" not in json.dumps(shown)
    assert shown["settings"]["globs"] == ["docs/**/*.md", "README.md"] and shown["items"] == markdown

    again = run("sources", "sync", "acme/handbook", "--tenant", tenant, **env)
    assert f"{markdown} unchanged, 0 fetched" in again.stdout, again.stdout

    github.spend_rate_limit(times=5)
    limited = run("sources", "sync", "acme/handbook", "--tenant", tenant, **env)
    assert limited.returncode == 1 and "GitHub's API rate limit is used up until 2030-03-17" in limited.stderr
    assert_no_traceback(limited)

    bad = run("sources", "add", "github", "not-a-repository", "--tenant", tenant, "--no-sync", **env)
    assert bad.returncode == 1 and "not OWNER/NAME of a GitHub repository" in bad.stderr
    style = run("sources", "add", "github", "acme/x", "--url-style", "sphinx", "--tenant", tenant, **env)
    assert style.returncode == 2 and "needs --url-base" in style.stderr
    for result in (bad, style):
        assert_no_traceback(result)
