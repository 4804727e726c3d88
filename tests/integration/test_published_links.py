"""Published links end to end: ingest a folder with a URL base, search, and find the page's URL and resolved links;
the collection keeps its base for later ingests, and a new base replaces the stored documents."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import session_scope
from knowledge.models import Chunk, Collection, Document
from knowledge.published import PublishedSite
from knowledge.service import KnowledgeBase
from tests.integration.helpers.cli import run

TIMEOUTS = """# Timeouts

Requests give up after thirty seconds; raise the limit with the [CLI](../reference/cli.md#options) flag.
"""
CLI = """# Command line

## Options

Pass --timeout to change how long a request may take before the gateway gives up.
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "advanced").mkdir(parents=True)
    (root / "reference").mkdir()
    (root / "advanced" / "timeouts.md").write_text(TIMEOUTS)
    (root / "reference" / "cli.md").write_text(CLI)
    return root


async def stored_chunk_text(kb: KnowledgeBase, tenant: str, source_uri: str) -> str:
    async with session_scope(kb.sessionmaker) as session:
        contents = await session.scalars(
            select(Chunk.content)
            .join(Document, Document.id == Chunk.document_id)
            .join(Collection, Collection.id == Document.collection_id)
            .where(Collection.tenant == tenant, Document.source_uri == source_uri)
            .order_by(Chunk.ordinal)
        )
        return "\n".join(contents)


async def test_ingest_with_a_url_base_links_sources_and_relative_links(
    kb: KnowledgeBase, tenant: str, docs: Path
) -> None:
    site = PublishedSite.create(base="https://docs.example.com/v2/")
    report = await kb.ingest([str(docs)], tenant=tenant, collection="site", site=site)
    assert sorted(report.added) == ["site/advanced/timeouts.md", "site/reference/cli.md"]

    (hit,) = await kb.search("how long until requests give up", tenant=tenant, limit=1)
    assert hit.source_uri == "site/advanced/timeouts.md"
    assert hit.url == "https://docs.example.com/v2/advanced/timeouts/"
    assert "[CLI](https://docs.example.com/v2/reference/cli/#options)" in hit.content
    assert "../reference/cli.md" not in await stored_chunk_text(kb, tenant, "site/advanced/timeouts.md")

    # Without the flags, the collection's stored base is used: nothing changed, nothing rewritten.
    again = await kb.ingest([str(docs)], tenant=tenant, collection="site")
    assert sorted(again.unchanged) == ["site/advanced/timeouts.md", "site/reference/cli.md"]

    moved = PublishedSite.create(base="https://handbook.example.org", style="sphinx")
    changed = await kb.ingest([str(docs)], tenant=tenant, collection="site", site=moved)
    assert sorted(changed.updated) == ["site/advanced/timeouts.md", "site/reference/cli.md"]
    (hit,) = await kb.search("how long until requests give up", tenant=tenant, limit=1)
    assert hit.url == "https://handbook.example.org/advanced/timeouts.html"
    assert "[CLI](https://handbook.example.org/reference/cli.html#options)" in hit.content

    # Forgetting the base: sources fall back to their paths, and relative links to their text.
    await kb.ingest([str(docs)], tenant=tenant, collection="site", forget_site=True)
    (hit,) = await kb.search("how long until requests give up", tenant=tenant, limit=1)
    assert hit.url is None
    assert "the CLI flag" in " ".join(hit.content.split())


@pytest.mark.slow  # runs `threadwise` in a process of its own
def test_the_ingest_command_takes_and_keeps_a_url_base(database_url_text: str, tmp_path: Path, docs: Path) -> None:
    env = {"DATABASE_URL": database_url_text, "APP_DATA_DIR": str(tmp_path / "data")}
    tenant = f"cli:{uuid.uuid4().hex[:8]}"
    common = ("--collection", "site", "--tenant", tenant)
    refused = run("ingest", str(docs), *common, "--url-base", "https://user:pw@docs.example.com", **env)
    assert refused.returncode != 0 and "credentials" in refused.stderr

    ingested = run("ingest", str(docs), *common, "--url-base", "https://docs.example.com", **env)
    assert ingested.returncode == 0, ingested.stderr
    again = run("ingest", str(docs), *common, **env)
    assert "0 added, 0 updated, 2 unchanged" in again.stdout

    found = run("search", "how long until requests give up", "--tenant", tenant, "--json", "--limit", "1", **env)
    assert found.returncode == 0, found.stderr
    (hit,) = json.loads(found.stdout)
    assert hit["url"] == "https://docs.example.com/advanced/timeouts/"
    shown = run("search", "how long until requests give up", "--tenant", tenant, "--limit", "1", **env)
    assert "https://docs.example.com/advanced/timeouts/" in shown.stdout
