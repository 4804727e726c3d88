"""The ingest pipeline: load → skip unchanged → chunk → embed → write, a batch of documents per transaction.

Idempotent: a document whose content hash (text, title, chunking and embedder) is unchanged costs nothing; a
changed one is replaced whole in one transaction; with ``prune``, documents whose files are gone from an
ingested directory are removed. A failure inside a batch rolls the batch back and its documents are retried
one by one, so one bad document never takes others down and never leaves a half-written version.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import session_scope
from core.logging import get_logger
from core.settings import KnowledgeSettings
from knowledge.chunking import chunk_document
from knowledge.collections import get_or_create_collection, remember_site
from knowledge.documents import ChunkDraft, SourceDocument
from knowledge.embeddings.base import Embedder
from knowledge.link_resolution import publish_document
from knowledge.loaders import LoadError, iter_files, load_file, load_url, source_uri_for
from knowledge.models import Collection
from knowledge.published import PublishedSite
from knowledge.store import PreparedDocument, remove_documents, stored_hashes, stored_vectors, write_documents
from knowledge.vector_index import analyze_search_tables, build_vector_index, has_vector_index

log = get_logger(__name__)

# Documents are chunked, embedded and written together until a batch holds about this much text
# (~250 chunks): big enough for fast COPY and embedding batches, small enough to retry cheaply.
BATCH_CHARS = 200_000


@dataclass
class IngestReport:
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    chunks_written: int = 0


ProgressCallback = Callable[[str, int | None], None]
"""Called with a source URI as each one is done, and the total when it becomes known."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    document: SourceDocument
    content_hash: str


@dataclass
class Sources:
    files: list[tuple[Path, Path | None]] = field(default_factory=list)
    """(file, the root its source URI is relative to)."""
    urls: list[str] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def discover_sources(sources: Sequence[str], *, include: Sequence[str], exclude: Sequence[str]) -> Sources:
    """Sort sources into URLs and files, walking directories (blocking: run it in a thread)."""
    found = Sources()
    for source in sources:
        if source.startswith(("http://", "https://")):
            found.urls.append(source)
            continue
        path = Path(source).expanduser()
        if path.is_dir():
            root = path.resolve()
            found.directories.append(root)
            # Relative to the directory's parent, so "docs/guide.md" stays the same from any cwd.
            found.files.extend((file, root.parent) for file in iter_files(root, include=include, exclude=exclude))
        elif path.is_file():
            found.files.append((path.resolve(), None))
        else:
            found.missing.append(source)
    return found


def chunk_for_embedder(document: SourceDocument, embedder: Embedder, settings: KnowledgeSettings) -> list[ChunkDraft]:
    """Cut a document to the configured chunk size, within the embedder's window, counted by its tokenizer."""
    return chunk_document(
        document,
        count_tokens=embedder.count_tokens,
        max_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap,
        embed_limit=embedder.max_tokens,
    )


def content_hash(document: SourceDocument, *, embedder: Embedder, settings: KnowledgeSettings) -> str:
    """Changes whenever re-ingesting would store something different."""
    recipe = f"{embedder.name}|{settings.chunk_tokens}|{settings.chunk_overlap}"
    digest = hashlib.sha256(recipe.encode())
    digest.update(b"\0" + document.title.encode() + b"\0" + document.text.encode())
    url = document.metadata.get("url")
    if url:  # only when there is one: documents without a URL keep the hashes they had before URLs existed
        digest.update(b"\0url\0" + str(url).encode())
    return digest.hexdigest()


def site_path(file: Path, root: Path | None) -> str:
    """Where ``file`` sits in the folder that was ingested (``root`` is that folder's parent): the path its
    published URL is made from. A file ingested on its own is at the top: its name."""
    if root is None:
        return file.name
    try:
        parts = file.relative_to(root).parts
    except ValueError:
        return file.name
    return "/".join(parts[1:]) or file.name


def load_published(file: Path, root: Path | None, *, site: PublishedSite | None, max_bytes: int) -> SourceDocument:
    """Load a file, then give it its published URL and resolve its links (blocking: run it in a thread)."""
    document = load_file(file, root=root, max_bytes=max_bytes)
    return publish_document(document, site=site, site_path=site_path(file, root))


class IngestPipeline:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        embedder: Embedder,
        settings: KnowledgeSettings,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._embedder = embedder
        self._settings = settings
        self._progress = progress or (lambda uri, total: None)

    async def ingest(
        self,
        sources: Sequence[str],
        *,
        tenant: str,
        collection: str,
        prune: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        site: PublishedSite | None = None,
        forget_site: bool = False,
    ) -> IngestReport:
        """Ingest files, directories and URLs. ``site`` is where the documents are published (stored on the
        collection for later ingests; without it, the stored one is used; ``forget_site`` drops it)."""
        async with session_scope(self._sessionmaker) as session:
            target, _ = await get_or_create_collection(session, tenant=tenant, name=collection, embedder=self._embedder)
            site = await remember_site(session, target, site, forget=forget_site)
            known = await stored_hashes(session, target)
        report = IngestReport(collection=target.name)
        found = await asyncio.to_thread(discover_sources, sources, include=include, exclude=exclude)
        report.failed.extend((source, "no such file, directory or URL") for source in found.missing)
        seen: set[str] = set()
        pending: list[_Loaded] = []
        pending_chars = 0

        async for loaded in self._load_all(found, report=report, seen=seen, site=site):
            uri = loaded.document.source_uri
            if known.get(uri) == loaded.content_hash:
                report.unchanged.append(uri)
                self._progress(uri, None)
                continue
            pending.append(loaded)
            pending_chars += len(loaded.document.text)
            if pending_chars >= BATCH_CHARS:
                await self._store_batch(target, pending, known, report)
                pending, pending_chars = [], 0
        await self._store_batch(target, pending, known, report)

        if prune:
            await self._prune(target, found.directories, seen, known, report)
        await self._finish(target, report, tenant=tenant)
        return report

    async def ingest_documents(
        self, documents: Sequence[SourceDocument], *, tenant: str, collection: str
    ) -> IngestReport:
        """Store documents built in memory (not read from files or URLs), with the same hashing and replacement
        as :meth:`ingest` but in one batch: meant for a few documents at a time, such as a verified answer."""
        async with session_scope(self._sessionmaker) as session:
            target, _ = await get_or_create_collection(session, tenant=tenant, name=collection, embedder=self._embedder)
            known = await stored_hashes(session, target)
        report = IngestReport(collection=target.name)
        pending = []
        for document in documents:
            loaded = self._with_hash(document)
            if known.get(document.source_uri) == loaded.content_hash:
                report.unchanged.append(document.source_uri)
            else:
                pending.append(loaded)
        await self._store_batch(target, pending, known, report)
        await self._finish(target, report, tenant=tenant)
        return report

    async def _finish(self, target: Collection, report: IngestReport, *, tenant: str) -> None:
        async with session_scope(self._sessionmaker) as session:
            if not await has_vector_index(session, target):
                # The collection's first load: index it once, now that its rows are in.
                await build_vector_index(session, target)
                await analyze_search_tables(session)
        log.info(
            "ingest finished",
            collection=target.name,
            tenant=tenant,
            added=len(report.added),
            updated=len(report.updated),
            unchanged=len(report.unchanged),
            skipped=len(report.skipped),
            failed=len(report.failed),
            pruned=len(report.pruned),
            chunks=report.chunks_written,
        )

    async def _load_all(
        self, found: Sources, *, report: IngestReport, seen: set[str], site: PublishedSite | None
    ) -> AsyncIterator[_Loaded]:
        """Yield each loadable source; record every source URI met (skipped ones too) in ``seen``."""
        files, urls = found.files, found.urls
        self._progress("", len(files) + len(urls))
        max_bytes = self._settings.max_file_bytes

        for file, root in files:
            uri = source_uri_for(file, root=root)
            # A file that fails to load is still there: --prune must not delete its last good version.
            seen.add(uri)
            try:
                document = await asyncio.to_thread(load_published, file, root, site=site, max_bytes=max_bytes)
            except LoadError as error:
                report.skipped.append((uri, str(error)))
                self._progress(uri, None)
                continue
            yield self._with_hash(document)
        if urls:
            async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as client:
                for url in urls:
                    try:
                        document = await load_url(url, client=client, max_bytes=max_bytes)
                    except LoadError as error:
                        report.skipped.append((url, str(error)))
                        self._progress(url, None)
                        continue
                    seen.add(document.source_uri)
                    # Small enough to do inline: a page is capped at max_file_bytes.
                    yield self._with_hash(publish_document(document, site=None, site_path=None))

    def _with_hash(self, document: SourceDocument) -> _Loaded:
        return _Loaded(document, content_hash(document, embedder=self._embedder, settings=self._settings))

    def _prepare(
        self,
        batch: list[_Loaded],
        report: IngestReport,
        reusable: dict[str, npt.NDArray[np.float32]] | None = None,
    ) -> list[PreparedDocument]:
        """Chunk each document, then embed the whole batch in one call (far faster than one per document); a chunk
        whose text is already stored with a vector (``reusable``: a changed document's unchanged parts) keeps it."""
        reusable = reusable or {}
        chunked: list[tuple[_Loaded, list[ChunkDraft]]] = []
        for loaded in batch:
            try:
                chunked.append((loaded, chunk_for_embedder(loaded.document, self._embedder, self._settings)))
            except Exception as error:  # one document's failure must not stop the run
                self._fail_before_writing(loaded.document.source_uri, error, report)
        texts = [chunk.embedding_text() for _, chunks in chunked for chunk in chunks]
        try:
            vectors = self._embed_new(texts, reusable)
        except Exception:
            if len(chunked) <= 1:
                raise
            # Find the document the embedder chokes on; the others go through.
            prepared: list[PreparedDocument] = []
            for loaded, chunks in chunked:
                try:
                    document_vectors = self._embedder.embed_array([chunk.embedding_text() for chunk in chunks])
                except Exception as error:
                    self._fail_before_writing(loaded.document.source_uri, error, report)
                    continue
                prepared.append(PreparedDocument(loaded.document, loaded.content_hash, chunks, document_vectors))
            return prepared
        prepared, offset = [], 0
        for loaded, chunks in chunked:
            document_vectors = vectors[offset : offset + len(chunks)]
            prepared.append(PreparedDocument(loaded.document, loaded.content_hash, chunks, document_vectors))
            offset += len(chunks)
        return prepared

    def _embed_new(self, texts: list[str], reusable: dict[str, npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        """Vectors for ``texts``, in order: the stored one where there is one, the rest embedded in one call."""
        if not reusable or not texts:
            return self._embedder.embed_array(texts)
        fresh = [text for text in dict.fromkeys(texts) if text not in reusable]
        embedded = dict(zip(fresh, self._embedder.embed_array(fresh), strict=True)) if fresh else {}
        return np.stack([reusable[text] if text in reusable else embedded[text] for text in texts])

    def _fail_before_writing(self, uri: str, error: Exception, report: IngestReport) -> None:
        report.failed.append((uri, f"{type(error).__name__}: {error}"))
        log.warning("document failed before writing", source=uri, exc_info=error)
        self._progress(uri, None)

    async def _store_batch(
        self,
        collection: Collection,
        batch: list[_Loaded],
        known: dict[str, str],
        report: IngestReport,
    ) -> None:
        if not batch:
            return
        replaced = [loaded.document.source_uri for loaded in batch if loaded.document.source_uri in known]
        async with session_scope(self._sessionmaker) as session:
            reusable = await stored_vectors(session, collection, replaced)
        try:
            # Chunking and embedding are CPU work: keep the event loop free for other requests.
            prepared = await asyncio.to_thread(self._prepare, batch, report, reusable)
        except Exception as error:  # the embedder failed for the only document of the batch
            self._fail_before_writing(batch[0].document.source_uri, error, report)
            return
        if not prepared:
            return
        try:
            async with session_scope(self._sessionmaker) as session:
                written = await write_documents(session, collection, prepared)
            self._record(prepared, known, report, written)
        except Exception:
            if len(prepared) == 1:
                self._fail(prepared[0], report)
                return
            # Find the culprit: write each document in its own transaction.
            for document in prepared:
                try:
                    async with session_scope(self._sessionmaker) as session:
                        written = await write_documents(session, collection, [document])
                    self._record([document], known, report, written)
                except Exception:
                    self._fail(document, report)

    def _record(
        self, prepared: list[PreparedDocument], known: dict[str, str], report: IngestReport, written: int
    ) -> None:
        report.chunks_written += written
        for document in prepared:
            uri = document.source.source_uri
            (report.updated if uri in known else report.added).append(uri)
            known[uri] = document.content_hash
            self._progress(uri, None)

    def _fail(self, document: PreparedDocument, report: IngestReport) -> None:
        uri = document.source.source_uri
        log.exception("document failed to write; its previous version is kept", source=uri)
        report.failed.append((uri, "could not be written to the database (see the log); the previous version is kept"))
        self._progress(uri, None)

    async def _prune(
        self,
        collection: Collection,
        directories: list[Path],
        seen: set[str],
        known: dict[str, str],
        report: IngestReport,
    ) -> None:
        """Remove documents under the ingested directories whose files were not met in this run."""
        prefixes = tuple(f"{directory.name}/" for directory in directories)
        gone = sorted(uri for uri in known if uri not in seen and uri.startswith(prefixes)) if prefixes else []
        if not gone:
            return
        async with session_scope(self._sessionmaker) as session:
            await remove_documents(session, collection, gone)
        report.pruned.extend(gone)
        for uri in gone:
            known.pop(uri, None)
