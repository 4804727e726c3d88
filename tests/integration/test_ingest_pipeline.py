"""The overlapping ingest stages write exactly what one sequential batch writes, and stop cleanly: whatever fails
or is cancelled mid-run, each document is either its previous version or its new one, whole."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import knowledge.ingest
from core.db import create_sessionmaker, session_scope
from core.settings import KnowledgeSettings
from knowledge.documents import SourceDocument
from knowledge.ingest import chunk_for_embedder
from knowledge.service import KnowledgeBase
from tests.counting_embedder import CountingEmbedder
from tests.integration.helpers.beir import write_tiny_beir
from tests.integration.helpers.cli import env, run
from tests.integration.helpers.failing_writes import chunks_refused_when_they_mention

__all__ = ["env"]  # a fixture used below

WORDS = ["replica", "quorum", "lease", "journal", "snapshot", "cursor", "ledger", "backoff", "shard", "budget"]
GUIDES = 24


def guide(number: int, *, extra: str = "") -> SourceDocument:
    """A document of one to four sections, some long enough to be cut into several chunks."""
    sections = []
    for part in range(1 + number % 4):
        words = " ".join(
            f"{WORDS[(number * 7 + part * 3 + i) % len(WORDS)]}{(i * (number + 1)) % 11}"
            for i in range(40 + 60 * ((number + part) % 4))
        )
        sections.append(f"## Part {part}\n\nPart {part} of guide {number} covers {words}.\n")
    return SourceDocument(
        source_uri=f"guides/{number:02d}.md", title=f"Guide {number}", text="\n".join(sections) + extra
    )


def guides(**edits: str) -> list[SourceDocument]:
    """Every guide, with text appended to those named (``g07="…"``)."""
    return [guide(number, extra=edits.get(f"g{number:02d}", "")) for number in range(GUIDES)]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few documents each: a run has many, all of its stages busy at once."""
    monkeypatch.setattr(knowledge.ingest, "FIRST_BATCH_CHARS", 2_000)
    monkeypatch.setattr(knowledge.ingest, "BATCH_CHARS", 5_000)


def knowledge_base(engine: AsyncEngine, embedder: CountingEmbedder) -> KnowledgeBase:
    return KnowledgeBase(sessionmaker=create_sessionmaker(engine), embedder=embedder, settings=KnowledgeSettings())


async def stored_chunks(kb: KnowledgeBase, tenant: str, collection: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each stored document's chunks, in order: (ordinal, heading path, content, token count, vector)."""
    async with session_scope(kb.sessionmaker) as session:
        rows = await session.execute(
            text(
                "SELECT d.source_uri, c.ordinal, c.heading_path, c.content, c.token_count, c.embedding "
                "FROM chunks c JOIN documents d ON d.id = c.document_id JOIN collections k ON k.id = d.collection_id "
                "WHERE k.tenant = :tenant AND k.name = :name ORDER BY d.source_uri, c.ordinal"
            ),
            {"tenant": tenant, "name": collection},
        )
        documents = await session.execute(
            text(
                "SELECT d.source_uri FROM documents d JOIN collections k ON k.id = d.collection_id "
                "WHERE k.tenant = :tenant AND k.name = :name"
            ),
            {"tenant": tenant, "name": collection},
        )
    found: dict[str, list[tuple[Any, ...]]] = {uri: [] for (uri,) in documents}
    for uri, *chunk in rows:
        found[uri].append(tuple(chunk))
    return found


POSTINGS = (
    "SELECT d.source_uri, c.ordinal, p.lexeme, p.impact, p.tf, p.heading_tf, p.length FROM chunk_terms p "
    "JOIN chunks c ON c.id = p.chunk_id JOIN documents d ON d.id = c.document_id WHERE p.collection_id = :c"
)
POSTINGS_FROM_CHUNKS = (
    "SELECT d.source_uri, c.ordinal, u.lexeme, coalesce(array_length(u.positions, 1), 1) "
    "FROM chunks c JOIN documents d ON d.id = c.document_id, unnest(c.tsv) u WHERE c.collection_id = :c"
)
DF = "SELECT lexeme, df FROM collection_terms WHERE collection_id = :c"
DF_FROM_CHUNKS = "SELECT u.lexeme, count(*) FROM chunks c, unnest(c.tsv) u WHERE c.collection_id = :c GROUP BY 1"
TOTALS = "SELECT chunk_count, term_total FROM collections WHERE id = :c"
TOTALS_FROM_CHUNKS = "SELECT count(*), coalesce(sum(length(tsv)), 0) FROM chunks WHERE collection_id = :c"


async def statistics(kb: KnowledgeBase, tenant: str, collection: str) -> dict[str, Any]:
    """The BM25 data as stored, keyed by document and ordinal rather than ids; checked against the chunks."""
    async with session_scope(kb.sessionmaker) as session:
        collection_id = await session.scalar(
            text("SELECT id FROM collections WHERE tenant = :tenant AND name = :name"),
            {"tenant": tenant, "name": collection},
        )

        async def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in await session.execute(text(sql), {"c": collection_id})]

        postings, df, totals = set(await rows(POSTINGS)), dict(await rows(DF)), await rows(TOTALS)
        assert {(uri, ordinal, lexeme, tf) for uri, ordinal, lexeme, _, tf, _, _ in postings} == set(
            await rows(POSTINGS_FROM_CHUNKS)
        )
        assert df == dict(await rows(DF_FROM_CHUNKS))
        assert totals == await rows(TOTALS_FROM_CHUNKS)
    return {"postings": postings, "df": df, "totals": totals}


def expected_chunks(kb: KnowledgeBase, document: SourceDocument) -> list[tuple[int, str, str, int]]:
    return [
        (chunk.ordinal, chunk.title, chunk.content, chunk.token_count)
        for chunk in chunk_for_embedder(document, kb.embedder, kb.settings)
    ]


def assert_whole(kb: KnowledgeBase, stored: dict[str, list[tuple[Any, ...]]], versions: list[SourceDocument]) -> None:
    """Every stored document has exactly the chunks of one of ``versions`` (its previous or its new text)."""
    by_uri: dict[str, list[list[tuple[int, str, str, int]]]] = {}
    for document in versions:
        by_uri.setdefault(document.source_uri, []).append(expected_chunks(kb, document))
    for uri, chunks in stored.items():
        assert [chunk[:4] for chunk in chunks] in by_uri[uri], f"{uri} is not whole"


async def test_overlapping_batches_write_what_one_sequential_batch_writes(
    engine: AsyncEngine, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents = guides()
    counting = CountingEmbedder()
    kb = knowledge_base(engine, counting)

    monkeypatch.setattr(knowledge.ingest, "FIRST_BATCH_CHARS", 10**9)
    monkeypatch.setattr(knowledge.ingest, "BATCH_CHARS", 10**9)
    monkeypatch.setattr(knowledge.ingest, "LAST_BATCH_CHARS", 0)
    sequential = await kb.add_documents(documents, tenant=tenant, collection="sequential")
    assert len(counting.calls) == 1  # one batch: chunked, embedded, then written, nothing overlapping

    monkeypatch.setattr(knowledge.ingest, "FIRST_BATCH_CHARS", 2_000)
    monkeypatch.setattr(knowledge.ingest, "BATCH_CHARS", 5_000)
    pipelined = await kb.add_documents(documents, tenant=tenant, collection="pipelined")
    pipelined_calls = counting.calls[1:]
    assert len(pipelined_calls) >= 6

    assert pipelined.added == sequential.added == [d.source_uri for d in documents]
    assert pipelined.chunks_written == sequential.chunks_written > len(documents)
    one = await stored_chunks(kb, tenant, "sequential")
    many = await stored_chunks(kb, tenant, "pipelined")
    assert list(one) == list(many)
    for document in documents:
        assert [chunk[:4] for chunk in many[document.source_uri]] == expected_chunks(kb, document)
        assert [chunk[:4] for chunk in one[document.source_uri]] == expected_chunks(kb, document)
        for (*_, alone), (*_, together) in zip(one[document.source_uri], many[document.source_uri], strict=True):
            # Padding differs with a batch's make-up, so the last bits may too.
            np.testing.assert_allclose(alone, together, atol=1e-5)
    # Each chunk has the very vector its batch's call returned for its text: no batch got another's vectors.
    returned: dict[str, npt.NDArray[np.float32]] = {}
    for texts in pipelined_calls:
        returned |= dict(zip(texts, counting.embed_array(texts), strict=True))
    for chunks in many.values():
        for _, heading, content, _, vector in chunks:
            np.testing.assert_array_equal(vector, returned[f"{heading}\n{content}"])
    sequential_statistics = await statistics(kb, tenant, "sequential")
    assert await statistics(kb, tenant, "pipelined") == sequential_statistics

    # Nothing changed: nothing embedded, nothing written, whatever the batches.
    before = len(counting.embedded)
    again = await kb.add_documents(documents, tenant=tenant, collection="pipelined")
    assert again.unchanged == pipelined.added and again.chunks_written == 0
    assert len(counting.embedded) == before


async def test_documents_handed_over_together_end_with_a_small_batch(engine: AsyncEngine, tenant: str) -> None:
    """As a source sync hands them over: little is left to write once the embedder is done."""
    counting = CountingEmbedder()
    kb = knowledge_base(engine, counting)
    documents = guides()[:12]  # 32,000 characters: the last one, 4,500, is a batch of its own
    report = await kb.add_documents(documents, tenant=tenant, collection="guides")
    assert report.added == [d.source_uri for d in documents]
    assert len(counting.calls) == 2
    assert all(text.startswith("Guide 11 ›") for text in counting.calls[1])


async def test_a_changed_document_in_a_later_batch_re_embeds_only_its_changed_chunks(
    engine: AsyncEngine, tenant: str, small_batches: None
) -> None:
    counting = CountingEmbedder()
    kb = knowledge_base(engine, counting)
    await kb.add_documents(guides(), tenant=tenant, collection="guides")
    before = len(counting.embedded)
    report = await kb.add_documents(
        guides(g21="\n## Rotation\n\nKeys rotate every ninety days.\n"), tenant=tenant, collection="guides"
    )
    assert report.updated == ["guides/21.md"]
    assert counting.embedded[before:] == ["Guide 21 › Rotation\nKeys rotate every ninety days."]
    await statistics(kb, tenant, "guides")


async def test_a_write_failing_mid_run_keeps_that_document_as_it_was_and_the_others_whole(
    engine: AsyncEngine, tenant: str, small_batches: None
) -> None:
    kb = knowledge_base(engine, CountingEmbedder())
    first = guides()
    await kb.add_documents(first, tenant=tenant, collection="guides")
    second = [SourceDocument(d.source_uri, d.title, d.text + "\n## Changelog\n\nRevised.\n", d.metadata) for d in first]
    second[13] = SourceDocument(second[13].source_uri, second[13].title, second[13].text + "\nEXPLODE now.\n")
    async with chunks_refused_when_they_mention(engine, "EXPLODE"):
        report = await kb.add_documents(second, tenant=tenant, collection="guides")
    assert [uri for uri, _ in report.failed] == ["guides/13.md"]
    assert sorted(report.updated) == sorted(d.source_uri for d in second if d.source_uri != "guides/13.md")
    stored = await stored_chunks(kb, tenant, "guides")
    assert [chunk[:4] for chunk in stored["guides/13.md"]] == expected_chunks(kb, first[13])
    assert_whole(kb, {uri: chunks for uri, chunks in stored.items() if uri != "guides/13.md"}, second)
    await statistics(kb, tenant, "guides")


class PoisonedEmbedder(CountingEmbedder):
    """Refuses any batch holding the word POISON, as a provider refuses a text it cannot take."""

    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if any("POISON" in t for t in texts):
            raise ValueError("the provider refused a text")
        return super().embed_array(texts)


async def test_the_document_the_embedder_refuses_fails_alone(
    engine: AsyncEngine, tenant: str, small_batches: None
) -> None:
    documents = guides(g09="\nPOISON\n")
    kb = knowledge_base(engine, PoisonedEmbedder())
    report = await kb.add_documents(documents, tenant=tenant, collection="guides")
    assert report.failed == [("guides/09.md", "ValueError: the provider refused a text")]
    stored = await stored_chunks(kb, tenant, "guides")
    assert sorted(stored) == sorted(d.source_uri for d in documents if d.source_uri != "guides/09.md")
    assert_whole(kb, stored, documents)
    await statistics(kb, tenant, "guides")


class GatedEmbedder(CountingEmbedder):
    """Once armed, holds its third call until released, so a test can act while every stage is busy."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_call: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()

    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if len(self.calls) == self.hold_call:
            self.held.set()
            self.release.wait(30)
        return super().embed_array(texts)


def pipeline_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if "ahead" in task.get_coro().__qualname__]  # type: ignore[union-attr]


async def test_cancelling_mid_run_stops_every_stage_and_leaves_each_document_whole(
    engine: AsyncEngine, tenant: str, small_batches: None
) -> None:
    gated = GatedEmbedder()
    kb = knowledge_base(engine, gated)
    first = guides()
    await kb.add_documents(first[:12], tenant=tenant, collection="guides")
    gated.hold_call = len(gated.calls) + 2
    second = guides(**{f"g{n:02d}": "\n## Changelog\n\nRevised.\n" for n in range(GUIDES)})

    run_task = asyncio.create_task(kb.add_documents(second, tenant=tenant, collection="guides"))
    try:
        assert await asyncio.to_thread(gated.held.wait, 30)
        run_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run_task
    finally:
        gated.release.set()
    assert pipeline_tasks() == []

    stored = await stored_chunks(kb, tenant, "guides")
    assert_whole(kb, stored, first + second)
    assert len(stored) < GUIDES  # the run did stop part-way
    await statistics(kb, tenant, "guides")


async def test_an_error_while_loading_reaches_the_caller_after_the_batches_before_it(
    kb: KnowledgeBase, tenant: str, tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "guides"
    folder.mkdir()
    documents = guides()
    for document in documents:
        (folder / Path(document.source_uri).name).write_text(f"# {document.title}\n\n{document.text}")
    load = knowledge.ingest.load_published
    loaded: list[str] = []

    def failing_load(file: Path, *args: Any, **kwargs: Any) -> SourceDocument:
        if len(loaded) == 17:
            raise RuntimeError("the disk went away")
        loaded.append(file.name)
        return load(file, *args, **kwargs)

    monkeypatch.setattr(knowledge.ingest, "load_published", failing_load)
    with pytest.raises(RuntimeError, match="the disk went away"):
        await kb.ingest([str(folder)], tenant=tenant, collection="guides")
    assert pipeline_tasks() == []

    stored = await stored_chunks(kb, tenant, "guides")
    assert 0 < len(stored) < 17 and set(stored) <= {f"guides/{name}" for name in loaded}
    for uri, chunks in stored.items():  # each written whole
        document = load(folder / Path(uri).name, folder.resolve().parent, site=None, max_bytes=10**7)
        assert document.source_uri == uri
        assert [chunk[:4] for chunk in chunks] == expected_chunks(kb, document)
    await statistics(kb, tenant, "guides")


@pytest.mark.slow
def test_bench_ingest_times_the_bare_embedder_beside_each_end_to_end_run(env: dict[str, str], tmp_path: Path) -> None:
    result = run("bench", "ingest", "--beir", str(write_tiny_beir(tmp_path)), "--limit", "3", "--json", **env)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["documents"] == 3 and figures["chunks"] == 3
    assert [run_["path"] for run_ in figures["rounds"]] == ["threadwise ingest", "source sync"]
    for run_ in figures["rounds"]:
        assert run_["chunks"] == run_["embedded_texts"] == 3 and run_["embed_calls"] >= 1
        assert run_["chunks_per_second"] > 0 and run_["bare_embedder_chunks_per_second"] > 0
        assert run_["ratio"] == pytest.approx(run_["chunks_per_second"] / run_["bare_embedder_chunks_per_second"], 0.05)
    for figure in ("end_to_end", "bare_embedder", "sync", "sync_bare_embedder"):
        assert figures[f"{figure}_chunks_per_second"] > 0, figure
    assert figures["end_to_end_ratio"] > 0 and figures["sync_ratio"] > 0
    listed = run("collections", "list", "--tenant", "bench", "--json", **env)
    assert not [c for c in json.loads(listed.stdout) if c["name"].startswith(("end-to-end-", "sync-", "warm-up-"))]
