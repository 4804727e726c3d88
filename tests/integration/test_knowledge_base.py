"""The knowledge base end to end on a real PostgreSQL with pgvector and the real local embedder."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker, session_scope
from core.settings import KnowledgeSettings
from knowledge.bulk_load import drop_collection
from knowledge.collection_cache import CollectionCache
from knowledge.documents import SourceDocument
from knowledge.embeddings import LocalEmbedder
from knowledge.errors import EmbeddingModelMismatchError, InvalidQueryError, UnknownCollectionError
from knowledge.models import Chunk, Collection, CollectionTerm, Document
from knowledge.search import SEARCH_MODES, SearchHit, SearchParams
from knowledge.service import KnowledgeBase
from knowledge.vector_index import drop_orphan_vector_indexes
from tests.conftest import POOLED_PER_TRANSACTION
from tests.integration.helpers.failing_writes import chunks_refused_when_they_mention

GUIDE = """# Deployment guide

## Install on Linux

Install the package with apt, then enable the service with systemctl so it starts at boot.

## Rotate the signing key

Open the admin console, choose Security, and press Rotate. Old tokens stop working after one hour.
"""

FAQ_HTML = """<html><head><title>Billing FAQ</title><script>var tracking = 1;</script></head>
<body><nav>Home | Pricing</nav><main><h1>Billing FAQ</h1><h2>Refunds</h2>
<p>Refunds are issued within fourteen days of a cancelled subscription, to the original card.</p></main>
<footer>© Example</footer></body></html>"""

NOTES_RST = """Team rituals
============

Standups
--------

The platform team meets every Tuesday at nine for a fifteen minute standup.
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "handbook"
    (root / "ops").mkdir(parents=True)
    (root / "ops" / "deployment.md").write_text(GUIDE)
    (root / "billing.html").write_text(FAQ_HTML)
    (root / "rituals.rst").write_text(NOTES_RST)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))  # not a document type
    (root / "export.txt").write_bytes(b"\x00\x01\x02 a database dump saved as .txt" + bytes(64))
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<< this is not a pdf")
    return root


async def test_ingest_reports_each_file_and_search_finds_the_right_section(
    kb: KnowledgeBase, tenant: str, docs: Path
) -> None:
    report = await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    assert sorted(report.added) == ["handbook/billing.html", "handbook/ops/deployment.md", "handbook/rituals.rst"]
    assert {uri for uri, _ in report.skipped} == {"handbook/export.txt", "handbook/broken.pdf"}
    assert all(reason for _, reason in report.skipped)
    assert report.failed == [] and report.chunks_written >= 3

    for mode in SEARCH_MODES:
        hits = await kb.search("how do I rotate the signing key?", tenant=tenant, mode=mode, limit=3)
        assert hits[0].source_uri == "handbook/ops/deployment.md", mode
        assert hits[0].heading_path == "Deployment guide › Rotate the signing key"
        assert "Rotate" in hits[0].content
    (refund,) = await kb.search("when do I get my money back after cancelling", tenant=tenant, limit=1)
    assert refund.title == "Billing FAQ" and "tracking" not in refund.content and "Pricing" not in refund.content


async def test_reingest_is_idempotent_updates_changes_and_prunes(kb: KnowledgeBase, tenant: str, docs: Path) -> None:
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    again = await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    assert again.added == [] and again.updated == [] and again.chunks_written == 0
    assert len(again.unchanged) == 3

    (docs / "rituals.rst").write_text(NOTES_RST.replace("Tuesday", "Thursday"))
    (docs / "ops" / "deployment.md").unlink()
    changed = await kb.ingest([str(docs)], tenant=tenant, collection="handbook", prune=True)
    assert changed.updated == ["handbook/rituals.rst"]
    assert changed.pruned == ["handbook/ops/deployment.md"]
    (hit,) = await kb.search("standup day", tenant=tenant, limit=1)
    assert "Thursday" in hit.content
    for mode in SEARCH_MODES:
        hits = await kb.search("rotate the signing key", tenant=tenant, mode=mode, limit=10)
        assert all(h.source_uri != "handbook/ops/deployment.md" for h in hits)
    await assert_postings_match_chunks(kb, tenant)


async def assert_postings_match_chunks(kb: KnowledgeBase, tenant: str) -> None:
    """Postings, document frequencies and totals agree with the chunks, after any mix of writes and deletes."""
    async with session_scope(kb.sessionmaker) as session:
        (collection,) = await session.scalars(select(Collection).where(Collection.tenant == tenant))
        expected = text(
            "SELECT c.id, u.lexeme, coalesce(array_length(u.positions, 1), 1) FROM chunks c, unnest(c.tsv) u "
            "WHERE c.collection_id = :c"
        )
        stored = text("SELECT chunk_id, lexeme, tf FROM chunk_terms WHERE collection_id = :c")
        params = {"c": collection.id}
        assert set((await session.execute(stored, params)).all()) == set(
            (await session.execute(expected, params)).all()
        )
        df = await session.execute(
            text("SELECT u.lexeme, count(*) FROM chunks c, unnest(c.tsv) u WHERE c.collection_id = :c GROUP BY 1"),
            params,
        )
        stored_df = await session.execute(
            select(CollectionTerm.lexeme, CollectionTerm.df).where(CollectionTerm.collection_id == collection.id)
        )
        assert dict(stored_df.all()) == dict(df.all())
        chunks = await session.scalar(
            select(text("count(*)")).select_from(Chunk).where(Chunk.collection_id == collection.id)
        )
        assert collection.chunk_count == chunks


async def test_skipped_files_are_not_pruned(kb: KnowledgeBase, tenant: str, docs: Path) -> None:
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    (docs / "billing.html").write_bytes(b"\x00\x01binary now" * 100)  # the file went bad, it did not go away
    report = await kb.ingest([str(docs)], tenant=tenant, collection="handbook", prune=True)
    assert "handbook/billing.html" in {uri for uri, _ in report.skipped}
    assert report.pruned == []
    (hit,) = await kb.search("refund to the original card", tenant=tenant, limit=1)
    assert hit.source_uri == "handbook/billing.html"


async def test_a_crash_while_writing_keeps_the_previous_version(
    kb: KnowledgeBase, engine: AsyncEngine, tenant: str, docs: Path
) -> None:
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    async with chunks_refused_when_they_mention(engine, "EXPLODE"):
        (docs / "ops" / "deployment.md").write_text(GUIDE + "\n## Rollback\n\nEXPLODE during rollback.\n")
        (docs / "rituals.rst").write_text(NOTES_RST.replace("Tuesday", "Friday"))
        report = await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    assert [uri for uri, _ in report.failed] == ["handbook/ops/deployment.md"]
    assert report.updated == ["handbook/rituals.rst"]  # the other document in the batch still made it
    hits = await kb.search("rotate the signing key", tenant=tenant, mode="keyword", limit=5)
    assert hits and hits[0].source_uri == "handbook/ops/deployment.md"
    assert not await kb.search("rollback", tenant=tenant, mode="keyword", limit=5)


async def test_tenants_never_see_each_other(kb: KnowledgeBase, tmp_path: Path) -> None:
    alpha, beta = f"test:a-{uuid.uuid4().hex[:6]}", f"test:b-{uuid.uuid4().hex[:6]}"
    for tenant, secret in ((alpha, "The alpha vault code is heron."), (beta, "The beta vault code is falcon.")):
        folder = tmp_path / tenant.replace(":", "_") / "docs"
        folder.mkdir(parents=True)
        (folder / "vault.md").write_text(f"# Vault\n\n{secret}\n")
        await kb.ingest([str(folder)], tenant=tenant, collection="docs")
    for mode in SEARCH_MODES:
        for tenant, mine, theirs in ((alpha, "heron", "falcon"), (beta, "falcon", "heron")):
            hits = await kb.search("what is the vault code heron falcon", tenant=tenant, mode=mode, limit=50)
            contents = " ".join(hit.content for hit in hits)
            assert mine in contents and theirs not in contents, (mode, tenant)


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "empty"), ("   ", "empty"), ("x" * 100_000, "100,000 characters")],
)
async def test_bad_queries_get_clear_errors(kb: KnowledgeBase, tenant: str, query: str, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        await kb.search(query, tenant=tenant)


async def test_unknown_collection_is_named(kb: KnowledgeBase, tenant: str) -> None:
    with pytest.raises(UnknownCollectionError, match=r"'nope'.*threadwise collections list"):
        await kb.search("anything", tenant=tenant, collections=["nope"])


async def test_searches_reuse_the_collections_they_looked_up_for_a_moment(
    engine: AsyncEngine, embedder: LocalEmbedder, tenant: str
) -> None:
    """Every question needs the tenant's collections: they are looked up once per moment, not per search. Changes
    made through the same knowledge base show at once, another process's once the moment has passed."""
    clock = [1000.0]
    cache = CollectionCache(fresh_for=2.0, clock=lambda: clock[0])

    def knowledge_base(cache: CollectionCache | None = None) -> KnowledgeBase:
        return KnowledgeBase(
            sessionmaker=create_sessionmaker(engine),
            embedder=embedder,
            settings=KnowledgeSettings(),
            collection_cache=cache,
        )

    def document(name: str, text: str) -> list[SourceDocument]:
        return [SourceDocument(source_uri=f"{name}.md", title=name, text=text)]

    async def collections_found(query: str, names: list[str] | None = None) -> set[str]:
        return {hit.collection for hit in await searching.search(query, tenant=tenant, collections=names, limit=5)}

    searching, elsewhere = knowledge_base(cache), knowledge_base()
    await elsewhere.add_documents(document("handbook", GUIDE), tenant=tenant, collection="handbook")
    assert await collections_found("how do I rotate the signing key?") == {"handbook"}

    await elsewhere.add_documents(document("billing", FAQ_HTML), tenant=tenant, collection="billing")
    clock[0] += 1.9
    assert await collections_found("refunds for a cancelled subscription") == {"handbook"}  # the lookup reused
    clock[0] += 0.1
    assert "billing" in await collections_found("refunds for a cancelled subscription")

    await searching.add_documents(document("rituals", NOTES_RST), tenant=tenant, collection="rituals")
    assert "rituals" in await collections_found("when is the standup?")
    assert await collections_found("when is the standup?", ["rituals"]) == {"rituals"}
    await searching.delete_collection(tenant=tenant, name="rituals")
    with pytest.raises(UnknownCollectionError, match="'rituals'"):
        await collections_found("when is the standup?", ["rituals"])


async def test_embedding_model_mismatch_is_refused_until_reindex(kb: KnowledgeBase, tenant: str, docs: Path) -> None:
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    async with session_scope(kb.sessionmaker) as session:
        await session.execute(
            update(Collection)
            .where(Collection.tenant == tenant, Collection.name == "handbook")
            .values(embedding_model="openai:text-embedding-3-small")
        )
    with pytest.raises(EmbeddingModelMismatchError, match="threadwise reindex --collection handbook"):
        await kb.search("rotate the key", tenant=tenant, collections=["handbook"])
    with pytest.raises(EmbeddingModelMismatchError, match="threadwise reindex"):
        await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    # Keyword search needs no embedding, so it keeps working meanwhile.
    assert await kb.search("rotate the signing key", tenant=tenant, mode="keyword")

    reindexed = await kb.reindex(tenant=tenant, name="handbook")
    assert reindexed.embedding_model == kb.embedder.name
    hits = await kb.search("how do I rotate the signing key?", tenant=tenant, mode="vector", limit=1)
    assert hits[0].heading_path.endswith("Rotate the signing key")


async def test_vector_search_uses_the_collection_hnsw_index(
    kb: KnowledgeBase, engine: AsyncEngine, tenant: str, docs: Path
) -> None:
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    from knowledge.search import build_search_sql
    from knowledge.vector_index import vector_index_name

    async with session_scope(kb.sessionmaker) as session:
        (collection,) = await session.scalars(select(Collection).where(Collection.tenant == tenant))
        # A tiny table: make scans and sorts look expensive so the planner shows whether the index is usable.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_sort = off"))
        vector = kb.embedder.embed_array(["signing key"])[0]
        plan = await session.execute(
            text("EXPLAIN " + build_search_sql([collection], "vector")),
            {"query_vector": vector, "candidates": 10, "limit": 10, "rrf_k": 60, "vector_weight": 1.0},
        )
        assert vector_index_name(collection) in "\n".join(row[0] for row in plan)


async def test_connections_start_with_the_default_ef_search_and_a_search_may_set_its_own(
    kb: KnowledgeBase, tenant: str, docs: Path
) -> None:
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    from knowledge.search import search

    async with session_scope(kb.sessionmaker) as session:
        if not POOLED_PER_TRANSACTION:  # behind a transaction pooler each search sets its own (test_pool_mode)
            assert await session.scalar(text("SHOW hnsw.ef_search")) == str(SearchParams().ef_search)
        (collection,) = await session.scalars(select(Collection).where(Collection.tenant == tenant))
        # The HNSW index, as on a large collection (see test_vector_search_uses_the_collection_hnsw_index).
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_sort = off"))
        vector = kb.embedder.embed_array(["signing key"])[0]
        found: dict[int, list[SearchHit]] = {}
        in_effect: dict[int, str | None] = {}
        for ef_search in (SearchParams().ef_search, 1):
            found[ef_search] = await search(
                session,
                collections=[collection],
                query="signing key",
                query_vector=vector,
                mode="vector",
                limit=5,
                params=SearchParams(ef_search=ef_search),
                connection_keeps_settings=not POOLED_PER_TRANSACTION,
            )
            in_effect[ef_search] = await session.scalar(text("SHOW hnsw.ef_search"))
    # The default needs no SET LOCAL; another value is set for the rest of the search's transaction.
    assert in_effect == {SearchParams().ef_search: str(SearchParams().ef_search), 1: "1"}
    # The index returns at most ef_search rows: 1 shows the search's SET LOCAL took effect.
    assert len(found[SearchParams().ef_search]) > 1 and len(found[1]) == 1


async def test_bm25_scores_match_a_reference_computation(kb: KnowledgeBase, tenant: str, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    texts = {
        "a.txt": "solar panels convert sunlight into electricity on the roof",
        "b.txt": "wind turbines convert wind into electricity offshore and onshore wind farms",
        "c.txt": "electricity prices rise in winter when demand for heating electricity peaks",
        "d.txt": "the garden needs sunlight and water",
    }
    for name, body in texts.items():
        (folder / name).write_text(body)
    await kb.ingest([str(folder)], tenant=tenant, collection="energy")
    query = "wind electricity sunlight"
    # max_df_ratio 1: every query term counts, as in textbook BM25 (by default "electricity", in 3 of the 4
    # chunks, would be skipped as nearly a stop word here).
    hits = await kb.search(query, tenant=tenant, mode="keyword", limit=10, params=SearchParams(max_df_ratio=1.0))

    async with session_scope(kb.sessionmaker) as session:
        (collection,) = await session.scalars(select(Collection).where(Collection.tenant == tenant))
        rows = (
            await session.execute(
                select(Document.source_uri, text("length(chunks.tsv)"), text("chunks.tsv::text"))
                .select_from(Chunk)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.collection_id == collection.id)
            )
        ).all()
        query_terms = set(
            await session.scalar(text("SELECT tsvector_to_array(to_tsvector('english', :q))"), {"q": query})
        )
        terms = await session.execute(
            select(CollectionTerm.lexeme, CollectionTerm.df).where(CollectionTerm.collection_id == collection.id)
        )
        df = dict(terms.all())
    # Reference BM25 (k1 0.9, b 0.4, length = distinct lexemes) from the stored tsvectors.
    n, avgdl = len(rows), sum(r[1] for r in rows) / len(rows)
    expected: dict[str, float] = {}
    for uri, length, tsv in rows:
        tf = Counter({item.split(":")[0].strip("'"): len(item.split(":")[1].split(",")) for item in tsv.split(" ")})
        score = sum(
            math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            * tf[t]
            * 1.9
            / (tf[t] + 0.9 * (1 - 0.4 + 0.4 * length / avgdl))
            for t in query_terms
            if tf.get(t)
        )
        if score:
            expected[uri.split("/")[-1]] = score
    ranked = sorted(expected, key=lambda uri: -expected[uri])
    assert [hit.source_uri.split("/")[-1] for hit in hits] == ranked
    assert collection.chunk_count == 4 and df["electr"] == 3


async def test_bounded_postings_keep_each_terms_strongest_chunks(
    kb: KnowledgeBase, tenant: str, tmp_path: Path
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "dense.txt").write_text("electricity electricity electricity bills")
    (folder / "sparse.txt").write_text("electricity " + " ".join(f"word{i}" for i in range(60)))
    (folder / "middle.txt").write_text("electricity and gas meters for the house")
    await kb.ingest([str(folder)], tenant=tenant, collection="bounded")
    exact = await kb.search("electricity", tenant=tenant, mode="keyword", params=SearchParams(postings_per_term=None))
    assert [hit.source_uri.split("/")[-1] for hit in exact] == ["dense.txt", "middle.txt", "sparse.txt"]
    for depth, expected in ((1, ["dense.txt"]), (2, ["dense.txt", "middle.txt"])):
        bounded = await kb.search(
            "electricity", tenant=tenant, mode="keyword", params=SearchParams(postings_per_term=depth)
        )
        assert [hit.source_uri.split("/")[-1] for hit in bounded] == expected


@pytest.mark.parametrize("way", ["delete_collection", "bulk_load.drop_collection"])
async def test_delete_collection_removes_everything(
    kb: KnowledgeBase, tenant: str, docs: Path, engine: AsyncEngine, way: str
) -> None:
    """Both ways of dropping a collection: the product's, and the measurement commands' (``knowledge.bulk_load``)."""
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    async with session_scope(kb.sessionmaker) as session:
        (collection,) = await session.scalars(select(Collection).where(Collection.tenant == tenant))
    postings = text("SELECT count(*) FROM chunk_terms WHERE collection_id = :c")
    async with engine.connect() as connection:
        assert await connection.scalar(postings, {"c": collection.id}), "no postings: the test would prove nothing"
    if way == "delete_collection":
        await kb.delete_collection(tenant=tenant, name="handbook")
        with pytest.raises(UnknownCollectionError):
            await kb.search("anything", tenant=tenant, collections=["handbook"])
    else:
        async with session_scope(kb.sessionmaker) as session:
            await drop_collection(session, collection)
    async with engine.connect() as connection:
        for table in ("documents", "chunks", "collection_terms", "chunk_terms"):
            count = await connection.scalar(
                text(f"SELECT count(*) FROM {table} WHERE collection_id = :c"), {"c": collection.id}
            )
            assert count == 0, table
        assert await connection.scalar(text(f"SELECT to_regclass('ix_chunks_embedding_c{collection.id}')")) is None


async def test_deleting_a_collection_never_waits_behind_a_long_transaction(
    kb: KnowledgeBase, tenant: str, docs: Path, engine: AsyncEngine
) -> None:
    await kb.ingest([str(docs)], tenant=tenant, collection="handbook")
    async with session_scope(kb.sessionmaker) as session:
        (collection,) = await session.scalars(select(Collection).where(Collection.tenant == tenant))
    index = f"ix_chunks_embedding_c{collection.id}"
    async with engine.connect() as long_running:
        # An open transaction that has read the chunks table, as a big ingest or a slow report would have.
        await long_running.execute(text("SELECT 1 FROM chunks LIMIT 1"))
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(kb.delete_collection(tenant=tenant, name="handbook"), timeout=30)
        assert asyncio.get_running_loop().time() - started < 15
        await long_running.rollback()
    # The index the delete could not drop while the table was busy is removed once it is free.
    assert index in await drop_orphan_vector_indexes(engine) or not await _index_exists(engine, index)
    assert not await _index_exists(engine, index)


async def _index_exists(engine: AsyncEngine, name: str) -> bool:
    async with engine.connect() as connection:
        return await connection.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None
