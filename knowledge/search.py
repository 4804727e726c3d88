"""Hybrid search in one SQL statement: HNSW cosine + BM25 over the chunks' tsvector, fused by scaled score.

Scoped to collections the caller already resolved for one tenant, so a query never reads another tenant's
rows. Collection ids and dimensions are inlined as integers (they come from our own rows): a partial HNSW
index is only usable when the planner sees the literal ``collection_id`` it was built for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import HNSW_EF_SEARCH
from knowledge.errors import InvalidQueryError, KnowledgeError
from knowledge.models import Collection
from knowledge.vector_index import embedding_expression

SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "keyword")
Fusion = Literal["rrf", "score"]
FUSIONS: tuple[Fusion, ...] = ("rrf", "score")
MAX_QUERY_CHARS = 4000
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class SearchParams:
    """Tuning knobs; the defaults were tuned on SciFact's train split (see docs/retrieval.md)."""

    candidates: int = 100
    """How deep each ranker goes before fusion."""
    ef_search: int = HNSW_EF_SEARCH
    """HNSW's candidate list at query time; connections start with the default (``core.db``)."""
    fusion: Fusion = "score"
    """``score``: Σ w × score min-max scaled within each ranker's candidates (train nDCG@10 0.734; it keeps a
    confident BM25 winner on top). ``rrf``: Σ w / (k + rank) (train 0.730)."""
    rrf_k: int = 10
    """Small k trusts each ranker's top results more (train nDCG@10: k 10 → 0.731, k 60 → 0.722)."""
    vector_weight: float = 1.0
    keyword_weight: float = 1.0
    k1: float = 0.9
    b: float = 0.4
    heading_weight: float = 1.0
    """Each occurrence of a term in the heading path counts this many times in BM25."""
    max_df_ratio: float = 0.3
    """BM25 ignores query terms found in more than this share of chunks (keeping the two rarest)."""
    postings_per_term: int | None = 2000
    """BM25 reads at most this many postings per query term, strongest tf factor first (None: all of them).
    Bounds keyword latency on large collections; smaller collections are scored exactly."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    chunk_id: int
    document_id: int
    collection: str
    title: str
    heading_path: str
    source_uri: str
    content: str
    score: float
    """The fused score: only comparable between hits of one search."""
    similarity: float | None
    """Cosine similarity of the chunk to the query (None in keyword mode): comparable across searches."""
    vector_rank: int | None
    keyword_rank: int | None
    url: str | None = None
    """Where the document is published (``threadwise ingest --url-base``, or the page it was fetched from)."""


def validate_query(query: str) -> str:
    cleaned = query.strip()
    if not cleaned:
        raise InvalidQueryError("the query is empty; ask something")
    if len(cleaned) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"the query is {len(cleaned):,} characters; the limit is {MAX_QUERY_CHARS:,}")
    return cleaned


def _vector_branch(collection: Collection) -> str:
    expression = embedding_expression(collection)
    dims = int(collection.dims)
    return (
        f"(SELECT id, {expression} <=> CAST(:query_vector AS vector({dims})) AS distance FROM chunks "
        f"WHERE collection_id = {int(collection.id)} "
        f"ORDER BY {expression} <=> CAST(:query_vector AS vector({dims})) LIMIT :candidates)"
    )


def _keyword_branch(collection: Collection) -> str:
    cid = int(collection.id)
    # BM25 from the postings of the query's lexemes only (index-only scans of chunk_terms' primary key):
    # idf from collection_terms, tf with heading occurrences weighted, avgdl from the collection's totals.
    return f"""(
        SELECT p.chunk_id AS id, sum(
            idf.idf * (p.tf + stats.hw1 * p.heading_tf) * (stats.k1 + 1)
            / ((p.tf + stats.hw1 * p.heading_tf) + stats.k1 * (1 - stats.b + stats.b * p.length / stats.avgdl))
        ) AS score
        FROM (
            SELECT greatest(chunk_count, 1)::float8 AS n,
                   greatest(term_total::float8 / greatest(chunk_count, 1), 1) AS avgdl,
                   CAST(:k1 AS float8) AS k1, CAST(:b AS float8) AS b,
                   CAST(:heading_weight AS float8) - 1 AS hw1
            FROM collections WHERE id = {cid}
        ) AS stats
        CROSS JOIN LATERAL (
            -- Terms in most chunks weigh almost nothing (idf ~0.1 against ~8 for rare ones) but cost the most
            -- postings: skip them, keeping at least the query's two rarest terms.
            SELECT lexeme, idf FROM (
                SELECT t.lexeme, t.df, ln(1 + (stats.n - t.df + 0.5) / (t.df + 0.5)) AS idf,
                       row_number() OVER (ORDER BY t.df) AS rarity
                FROM collection_terms t, query_terms q
                WHERE t.collection_id = {cid} AND t.lexeme = ANY(q.lexemes)
            ) AS terms
            WHERE rarity <= 2 OR df <= stats.n * CAST(:max_df_ratio AS float8)
        ) AS idf
        -- LATERAL: one index range scan per query lexeme, whatever the planner's statistics say, read
        -- backwards from the highest impact so that LIMIT keeps each term's strongest postings.
        CROSS JOIN LATERAL (
            SELECT chunk_id, tf, heading_tf, length FROM chunk_terms
            WHERE collection_id = {cid} AND lexeme = idf.lexeme
            ORDER BY impact DESC
            LIMIT CAST(:postings_per_term AS integer)
        ) AS p
        GROUP BY p.chunk_id
        ORDER BY score DESC
        LIMIT :candidates
    )"""


def _scaled(score: str) -> str:
    """``score`` min-max scaled to 0..1 over the ranker's candidates (1 when they all tie)."""
    low, high = f"min({score}) OVER ()", f"max({score}) OVER ()"
    return f"coalesce(({score} - {low}) / nullif({high} - {low}, 0), 1)"


@lru_cache(maxsize=256)
def _statement(sql: str) -> TextClause:
    """Searches repeat a few statements (one per set of collections and mode): each is parsed once, not on every
    search (``text()`` finds its parameters with a regular expression, and SQLAlchemy keys its cache on it)."""
    return text(sql)


def build_search_sql(collections: list[Collection], mode: SearchMode, fusion: Fusion = "rrf") -> str:
    """The one statement for ``mode`` over ``collections`` (exposed for EXPLAIN in benchmarks)."""
    contribution = "w * scaled" if fusion == "score" else "w / (CAST(:rrf_k AS float8) + rank)"
    ctes: list[str] = []
    branches: list[str] = []
    if mode in ("hybrid", "keyword"):
        ctes.append("query_terms AS (SELECT tsvector_to_array(to_tsvector('english', :query)) AS lexemes)")
        keyword = " UNION ALL ".join(_keyword_branch(c) for c in collections)
        ctes.append(
            f"keyword AS (SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank, "
            f"{_scaled('score')} AS scaled FROM ({keyword}) AS k ORDER BY score DESC, id LIMIT :candidates)"
        )
        branches.append(
            "SELECT id, NULL::bigint AS vector_rank, rank AS keyword_rank, CAST(:keyword_weight AS float8) AS w, "
            "rank, scaled FROM keyword"
        )
    if mode in ("hybrid", "vector"):
        vector = " UNION ALL ".join(_vector_branch(c) for c in collections)
        ctes.append(
            f"vector AS (SELECT id, row_number() OVER (ORDER BY distance, id) AS rank, "
            f"{_scaled('-distance')} AS scaled FROM ({vector}) AS v ORDER BY distance, id LIMIT :candidates)"
        )
        branches.append(
            "SELECT id, rank AS vector_rank, NULL::bigint AS keyword_rank, CAST(:vector_weight AS float8) AS w, "
            "rank, scaled FROM vector"
        )
    ctes.append(
        f"""fused AS (
            SELECT id, sum({contribution}) AS score, min(vector_rank) AS vector_rank,
                   min(keyword_rank) AS keyword_rank
            FROM ({" UNION ALL ".join(branches)}) AS ranked
            GROUP BY id
            ORDER BY score DESC, id
            LIMIT :limit
        )"""
    )
    similarity = "NULL::float8" if mode == "keyword" else "1 - (c.embedding <=> CAST(:query_vector AS vector))::float8"
    return f"""WITH {", ".join(ctes)}
        SELECT c.id AS chunk_id, c.document_id, col.name AS collection, d.title, c.heading_path, d.source_uri,
               c.content, f.score, {similarity} AS similarity, f.vector_rank, f.keyword_rank,
               d.metadata->>'url' AS url
        FROM fused f
        JOIN chunks c ON c.id = f.id
        JOIN documents d ON d.id = c.document_id
        JOIN collections col ON col.id = c.collection_id
        ORDER BY f.score DESC, c.id"""


def needs_transaction(mode: SearchMode, params: SearchParams, *, connection_keeps_settings: bool = True) -> bool:
    """Whether ``search`` sets ``ef_search`` for its transaction (``SET LOCAL``): a session that commits each
    statement on its own would drop the setting before the search runs.

    ``connection_keeps_settings``: whether connections hold the ``ef_search`` each starts with (``core.db``); not
    behind a transaction pooler, where every vector search sets its own."""
    return mode != "keyword" and (params.ef_search != HNSW_EF_SEARCH or not connection_keeps_settings)


async def search(
    session: AsyncSession,
    *,
    collections: list[Collection],
    query: str,
    query_vector: npt.NDArray[np.float32] | None,
    mode: SearchMode = "hybrid",
    limit: int = 10,
    params: SearchParams | None = None,
    connection_keeps_settings: bool = True,
) -> list[SearchHit]:
    """The best ``limit`` chunks of ``collections`` for ``query`` (validated here), best first.

    ``session`` must be in a transaction when ``needs_transaction(mode, params, connection_keeps_settings=…)``."""
    params = params or SearchParams()
    query = validate_query(query)
    if params.fusion not in FUSIONS:
        raise KnowledgeError(f"unknown fusion {params.fusion!r}; use one of {', '.join(FUSIONS)}")
    if mode not in SEARCH_MODES:
        raise KnowledgeError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise KnowledgeError(f"limit must be between 1 and {MAX_LIMIT}")
    if not collections:
        return []
    if mode != "keyword":
        if query_vector is None:
            raise KnowledgeError(f"{mode} search needs the query's embedding")
        if len({c.dims for c in collections}) > 1:
            raise KnowledgeError("these collections use embeddings of different sizes; search them one at a time")
    bind: dict[str, Any] = {"candidates": max(params.candidates, limit), "limit": limit, "rrf_k": params.rrf_k}
    if mode != "vector":
        bind |= {
            "query": query,
            "k1": params.k1,
            "b": params.b,
            "heading_weight": params.heading_weight,
            "max_df_ratio": params.max_df_ratio,
            "postings_per_term": params.postings_per_term,
            "keyword_weight": params.keyword_weight,
        }
    if mode != "keyword":
        bind["vector_weight"] = params.vector_weight
        bind["query_vector"] = np.asarray(query_vector, dtype=np.float32)
        if needs_transaction(mode, params, connection_keeps_settings=connection_keeps_settings):
            await session.execute(_statement(f"SET LOCAL hnsw.ef_search = {int(params.ef_search)}"))
    rows = await session.execute(_statement(build_search_sql(collections, mode, params.fusion)), bind)
    return [SearchHit(**row._mapping) for row in rows]
