"""A changed document re-embeds only the chunks whose text changed: the others keep their stored vectors."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker
from core.settings import KnowledgeSettings
from knowledge.documents import SourceDocument
from knowledge.service import KnowledgeBase
from tests.counting_embedder import CountingEmbedder

WORDS = [
    "latency",
    "budget",
    "replica",
    "shard",
    "quorum",
    "lease",
    "backoff",
    "journal",
    "snapshot",
    "cursor",
    "ledger",
]


def _section(number: int) -> str:
    body = " ".join(f"{WORDS[(number + i) % len(WORDS)]}{i % 7}" for i in range(180))
    return f"## Section {number}\n\nSection {number} covers {body}.\n"


def _page(sections: list[str]) -> SourceDocument:
    return SourceDocument(source_uri="https://docs.example.test/guide.html", title="Guide", text="\n".join(sections))


async def test_editing_one_paragraph_re_embeds_only_its_chunks(engine: AsyncEngine, tenant: str) -> None:
    counting = CountingEmbedder()
    kb = KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=counting, settings=KnowledgeSettings())
    sections = [_section(number) for number in range(40)]
    first = await kb.add_documents([_page(sections)], tenant=tenant, collection="guide")
    assert first.chunks_written >= 40
    embedded = len(counting.embedded)
    assert embedded == first.chunks_written

    sections[17] = sections[17].replace("covers", "now also covers the rotation of signing keys and covers")
    second = await kb.add_documents([_page(sections)], tenant=tenant, collection="guide")
    assert second.updated == ["https://docs.example.test/guide.html"]
    assert second.chunks_written == first.chunks_written
    re_embedded = counting.embedded[embedded:]
    assert 1 <= len(re_embedded) <= 3, re_embedded
    assert all("Section 17" in text for text in re_embedded)

    hits = await kb.search("rotation of signing keys", tenant=tenant, collections=["guide"])
    assert "signing keys" in hits[0].content
    # The reused vectors are the stored ones: a query close to an untouched section still finds it first.
    hits = await kb.search("Section 33 covers", tenant=tenant, collections=["guide"])
    assert hits[0].content.startswith("Section 33")
