"""Knowledge tables: collections of documents, cut into chunks with an embedding and a full-text vector.

Keyword search is BM25 computed in SQL from a postings table (``chunk_terms``: lexeme → chunk, term
frequency, chunk length) derived from each chunk's ``tsv``, with document frequencies in ``collection_terms``
and average length from the collection's totals; the store keeps them in step whenever chunks are written or
removed, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base

# Heading path weighs as 'A', content as 'D': BM25 can count heading terms more (see knowledge/search.py).
TSV_EXPRESSION = (
    "setweight(to_tsvector('english'::regconfig, heading_path), 'A') || "
    "setweight(to_tsvector('english'::regconfig, content), 'D')"
)


class Collection(Base):
    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("tenant", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    embedding_model: Mapped[str] = mapped_column(String(200))
    dims: Mapped[int] = mapped_column(Integer)
    # BM25 statistics, maintained with the chunks.
    chunk_count: Mapped[int] = mapped_column(BigInteger, server_default="0")
    term_total: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # What later ingests keep using unless told otherwise, e.g. the published site ({"published": {...}}).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    audience: Mapped[str] = mapped_column(String(200), server_default="tenant")
    """Who may be shown its documents (``knowledge.audience``): the tenant, or one chat channel."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    documents: Mapped[list[Document]] = relationship(back_populates="collection", passive_deletes=True)


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("collection_id", "source_uri"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    source_uri: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    collection: Mapped[Collection] = relationship(back_populates="documents")


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        Index("ix_chunks_document_id_ordinal", "document_id", "ordinal"),
        Index("ix_chunks_collection_id", "collection_id"),
        Index("ix_chunks_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    # Denormalised from the document: every search filters on it.
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    # Dimensions vary by collection; each collection gets its own HNSW index over a cast to its dims.
    embedding: Mapped[Any] = mapped_column(Vector())
    # The source of the BM25 postings; length(tsv), the number of distinct lexemes, is the BM25 length.
    tsv: Mapped[Any] = mapped_column(TSVECTOR, Computed(TSV_EXPRESSION, persisted=True))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")


class ChunkTerm(Base):
    """A BM25 posting: one lexeme of one chunk. Read by index-only scans of the primary key, strongest first."""

    __tablename__ = "chunk_terms"
    __table_args__ = (
        PrimaryKeyConstraint(
            "collection_id", "lexeme", "impact", "chunk_id", postgresql_include=["tf", "heading_tf", "length"]
        ),
    )

    # No foreign keys: postings are written and deleted with their chunks by the store, in bulk, and a
    # cascade would need another index on every posting.
    collection_id: Mapped[int] = mapped_column(BigInteger)
    lexeme: Mapped[str] = mapped_column(Text)
    impact: Mapped[int] = mapped_column(SmallInteger)
    """BM25's term-frequency factor scaled to 0..10000 (knowledge.term_stats.impact_sql): orders the postings."""
    chunk_id: Mapped[int] = mapped_column(BigInteger)
    tf: Mapped[int] = mapped_column(SmallInteger)
    heading_tf: Mapped[int] = mapped_column(SmallInteger)
    """Occurrences in the heading path, which a search may weigh more."""
    length: Mapped[int] = mapped_column(SmallInteger)
    """The chunk's BM25 length (distinct lexemes), copied here so scoring never visits the chunk."""


class CollectionTerm(Base):
    """How many chunks of a collection contain each lexeme (BM25 document frequency)."""

    __tablename__ = "collection_terms"

    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True)
    lexeme: Mapped[str] = mapped_column(Text, primary_key=True)
    df: Mapped[int] = mapped_column(Integer)
