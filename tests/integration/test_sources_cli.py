"""``threadwise sources``: add (and the first sync), list, show, sync, pause, resume, remove, as a person types them,
against a fake website on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.fakes.website import FakeWebsite, serving_website
from tests.integration.helpers.cli import assert_no_traceback, env, run, tenant

__all__ = ["env", "tenant"]

pytestmark = pytest.mark.slow  # starts threadwise processes


@pytest.fixture
def site() -> Iterator[FakeWebsite]:
    with serving_website(FakeWebsite(pages=6)) as served:
        yield served


def test_a_website_source_from_add_to_remove(site: FakeWebsite, env: dict[str, str], tenant: str) -> None:
    pages = len(site.allowed_pages(max_depth=2))
    added = run(
        "sources", "add", "website", site.url("/docs/"), "--collection", "docs", "--name", "docs",
        "--every", "6h", "--max-depth", "2", "--tenant", tenant, **env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Added source docs (website, every 6h)" in added.stdout
    assert f"{pages} listed" in added.stdout and f"{pages} written" in added.stdout

    listed = run("sources", "list", "--tenant", tenant, "--json", **env)
    [row] = json.loads(listed.stdout)
    assert (row["name"], row["state"], row["items"], row["every_seconds"]) == ("docs", "idle", pages, 6 * 3600)
    assert row["last_success_at"] and row["next_run_at"] and row["last_error"] is None

    again = run("sources", "sync", "docs", "--tenant", tenant, **env)
    assert f"{pages} unchanged, 0 fetched" in again.stdout, again.stdout

    assert run("sources", "pause", "docs", "--tenant", tenant, **env).returncode == 0
    shown = json.loads(run("sources", "show", "docs", "--tenant", tenant, **env).stdout)
    assert shown["paused"] is True and shown["next_run_at"] is None
    assert run("sources", "resume", "docs", "--tenant", tenant, **env).returncode == 0

    site.fail("/docs/page-2.html", 503, times=10)
    failed = run("sources", "sync", "docs", "--tenant", tenant, **env)
    assert failed.returncode == 1
    assert "the sync stopped" in failed.stderr and "HTTP 503" in failed.stderr
    assert_no_traceback(failed)
    table = run("sources", "list", "--tenant", tenant, **env)
    assert "failed" in table.stdout

    removed = run("sources", "remove", "docs", "--tenant", tenant, "--yes", **env)
    assert removed.returncode == 0 and f"its {pages} documents" in removed.stdout
    assert "No sources yet" in run("sources", "list", "--tenant", tenant, **env).stdout


def test_bad_input_gets_a_clear_message(env: dict[str, str], tenant: str) -> None:
    every = run("sources", "add", "website", "http://127.0.0.1:9/docs/", "--every", "1m", **env)
    assert every.returncode != 0 and "at least 5m" in every.stderr
    kind = run("sources", "add", "ftp", "ftp://127.0.0.1/", "--tenant", tenant, "--no-sync", **env)
    assert kind.returncode == 2 and "No such command 'ftp'" in kind.stderr
    missing = run("sources", "sync", "nowhere", "--tenant", tenant, **env)
    assert missing.returncode == 1 and "has no source named 'nowhere'" in missing.stderr
    for result in (kind, missing):
        assert_no_traceback(result)
