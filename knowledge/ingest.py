"""The ingest pipeline: load → skip unchanged → chunk → embed → write, a batch of documents per transaction.

Idempotent: a document whose content hash (text, title, chunking and embedder) is unchanged costs nothing; a
changed one is replaced whole in one transaction; with ``prune``, documents whose files are gone from an
ingested directory are removed. A failure inside a batch rolls the batch back and its documents are retried
one by one, so one bad document never takes others down and never leaves a half-written version.

The stages overlap, each a batch ahead of the next: while the embedder works on one batch (onnxruntime and
provider calls release the GIL), the next is loaded and chunked in other threads and the one before is written
(async I/O). Embedding is by far the costliest stage; this way it seldom waits for the others.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

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
FIRST_BATCH_CHARS = 50_000
"""The first batch of a run is cut this small (~60 chunks), and each next one twice as big up to ``BATCH_CHARS``:
the embedder starts after a few documents are chunked instead of a whole batch. A source sync's 25 documents of
this size stay one batch: measured here, splitting them made more, smaller embedding calls and gained nothing."""
LAST_BATCH_CHARS = 8_000
"""When a run's size is known beforehand (documents handed over in memory, as a source sync does), its last batch
is cut about this small: little is left to write once the embedder is done."""
CHUNKING_THREADS = 2
"""Threads that cut a batch into chunks together (the tokenizer, most of the work, runs without the GIL): the
embedder, which waits for the first batch of every run, starts sooner. 25 documents: 34 ms on one, 20 on two."""
TOKEN_COUNTS_KEPT = 4096
"""Token counts remembered while one document is chunked: the chunker measures most pieces more than once."""

T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class _Chunked:
    """A batch cut into chunks: each document with its chunks, and the stored vectors its texts may reuse."""

    documents: list[tuple[_Loaded, list[ChunkDraft]]]
    reusable: dict[str, npt.NDArray[np.float32]]


_Failure = tuple[str, Exception]
"""A document that failed before writing (source URI, why): noted by the event loop, not by the worker thread."""


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
    # Whether a piece fits, then its size: most pieces are counted two or three times, and counting (the
    # tokenizer) is nearly all of chunking's time. A count depends on the text alone, so each is done once.
    count_tokens = functools.lru_cache(maxsize=TOKEN_COUNTS_KEPT)(embedder.count_tokens)
    return chunk_document(
        document,
        count_tokens=count_tokens,
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


async def ahead(items: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """``items``, produced by a task of their own while the caller works on the last one yielded: the stage
    before this one gets on with the next batch instead of waiting for the caller to ask.

    At most two items wait ahead of the caller. An error of ``items`` reaches the caller after the items made
    before it. Closing this generator (``aclose``, as the caller must when it stops early) cancels the task.
    """
    queue: asyncio.Queue[tuple[T, None] | tuple[None, Exception | None]] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        try:
            async for item in items:
                await queue.put((item, None))
        except Exception as error:  # handed to the caller; cancellation just ends the task
            await queue.put((None, error))
        else:
            await queue.put((None, None))
        finally:
            await items.aclose()  # when cancelled between items: the stage's own clean-up runs now

    producer = asyncio.create_task(produce())
    try:
        while True:
            item, error = await queue.get()
            if error is not None:
                raise error
            if item is None:
                return
            yield item
    finally:
        producer.cancel()
        with suppress(asyncio.CancelledError):
            await producer


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
        # The stages overlap CPU work with database work, not database work with itself: one session at a time.
        self._database = asyncio.Lock()

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
        await self._store_all(target, self._load_all(found, report=report, seen=seen, site=site), known, report)
        if prune:
            await self._prune(target, found.directories, seen, known, report)
        await self._finish(target, report, tenant=tenant)
        return report

    async def ingest_documents(
        self, documents: Iterable[SourceDocument], *, tenant: str, collection: str
    ) -> IngestReport:
        """Store documents built in memory (not read from files or URLs), with the same hashing, batching and
        replacement as :meth:`ingest`: a source's sync hands them over a few dozen at a time."""
        hashed = [self._with_hash(document) for document in documents]
        async with session_scope(self._sessionmaker) as session:
            target, _ = await get_or_create_collection(session, tenant=tenant, name=collection, embedder=self._embedder)
            known = await stored_hashes(session, target, [loaded.document.source_uri for loaded in hashed])
        report = IngestReport(collection=target.name)
        changed = sum(len(d.document.text) for d in hashed if known.get(d.document.source_uri) != d.content_hash)

        async def listed() -> AsyncGenerator[_Loaded, None]:
            for loaded in hashed:
                yield loaded

        await self._store_all(target, listed(), known, report, changed_chars=changed)
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
    ) -> AsyncGenerator[_Loaded, None]:
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

    async def _store_all(
        self,
        collection: Collection,
        loaded: AsyncGenerator[_Loaded, None],
        known: dict[str, str],
        report: IngestReport,
        *,
        changed_chars: int | None = None,
    ) -> None:
        """Batch, chunk, embed and write the changed documents of ``loaded`` (``changed_chars`` of text, when known
        beforehand), the stages overlapping."""
        batches = ahead(self._batches(loaded, known, report, changed_chars))
        chunked = ahead(self._chunk_batches(collection, batches, known, report))
        embedded = ahead(self._embed_batches(chunked, report))
        try:
            async for prepared in embedded:
                await self._write(collection, prepared, known, report)
        finally:
            # An error (or cancellation) anywhere stops every stage; a stage only ever sees complete batches,
            # so nothing is half-written. Outermost first: each waits for the stage it runs to stop.
            for stage in (embedded, chunked, batches, loaded):
                await stage.aclose()

    async def _batches(
        self, loaded: AsyncIterator[_Loaded], known: dict[str, str], report: IngestReport, changed_chars: int | None
    ) -> AsyncGenerator[list[_Loaded], None]:
        """The documents whose content changed, grouped in batches (unchanged ones are reported as such)."""
        pending: list[_Loaded] = []
        pending_chars, limit, left = 0, FIRST_BATCH_CHARS, changed_chars
        async for item in loaded:
            uri = item.document.source_uri
            if known.get(uri) == item.content_hash:
                report.unchanged.append(uri)
                self._progress(uri, None)
                continue
            pending.append(item)
            pending_chars += len(item.document.text)
            if left is not None:
                left -= len(item.document.text)
            # Cut when the batch is full; or, the run's size known, where what is left makes a small last batch.
            if pending_chars >= limit or (left is not None and 0 < left <= LAST_BATCH_CHARS <= pending_chars):
                yield pending
                pending, pending_chars, limit = [], 0, min(2 * limit, BATCH_CHARS)
        if pending:
            yield pending

    async def _chunk_batches(
        self,
        collection: Collection,
        batches: AsyncIterator[list[_Loaded]],
        known: dict[str, str],
        report: IngestReport,
    ) -> AsyncGenerator[_Chunked, None]:
        """Each batch chunked in a thread while the stored vectors of the documents it replaces are read."""
        async for batch in batches:
            # Chunking is CPU work: in a thread, which keeps the event loop free for other requests.
            chunking = asyncio.ensure_future(self._chunk_in_threads(batch))
            replaced = [loaded.document.source_uri for loaded in batch if loaded.document.source_uri in known]
            try:
                reusable = await self._stored_vectors(collection, replaced)
            except BaseException:
                chunking.cancel()  # nobody waits for it: the thread finishes its batch and the result is dropped
                raise
            chunks, failures = await chunking
            self._note_failures(failures, report)
            if chunks:
                yield _Chunked(chunks, reusable)

    async def _stored_vectors(
        self, collection: Collection, source_uris: list[str]
    ) -> dict[str, npt.NDArray[np.float32]]:
        if not source_uris:  # new documents: nothing to read
            return {}
        async with self._database, session_scope(self._sessionmaker) as session:
            return await stored_vectors(session, collection, source_uris)

    async def _embed_batches(
        self, batches: AsyncIterator[_Chunked], report: IngestReport
    ) -> AsyncGenerator[list[PreparedDocument], None]:
        async for batch in batches:
            prepared, failures = await asyncio.to_thread(self._embed, batch)
            self._note_failures(failures, report)
            if prepared:
                yield prepared

    async def _chunk_in_threads(
        self, batch: list[_Loaded]
    ) -> tuple[list[tuple[_Loaded, list[ChunkDraft]]], list[_Failure]]:
        """``_chunk`` on consecutive parts of the batch holding about as much text each, a thread each."""
        parts: list[list[_Loaded]] = [[] for _ in range(min(CHUNKING_THREADS, len(batch)))]
        total, before = sum(len(loaded.document.text) for loaded in batch), 0
        for loaded in batch:
            parts[min(len(parts) - 1, before * len(parts) // max(total, 1))].append(loaded)
            before += len(loaded.document.text)
        done = await asyncio.gather(*(asyncio.to_thread(self._chunk, part) for part in parts if part))
        return [c for chunked, _ in done for c in chunked], [f for _, failures in done for f in failures]

    def _chunk(self, batch: list[_Loaded]) -> tuple[list[tuple[_Loaded, list[ChunkDraft]]], list[_Failure]]:
        """Each document cut into chunks (blocking); a document the chunker fails on is left out."""
        chunked: list[tuple[_Loaded, list[ChunkDraft]]] = []
        failures: list[_Failure] = []
        for loaded in batch:
            try:
                chunked.append((loaded, chunk_for_embedder(loaded.document, self._embedder, self._settings)))
            except Exception as error:  # one document's failure must not stop the run
                failures.append((loaded.document.source_uri, error))
        return chunked, failures

    def _embed(self, batch: _Chunked) -> tuple[list[PreparedDocument], list[_Failure]]:
        """The whole batch embedded in one call (far faster than one per document, blocking); a chunk whose text
        is already stored with a vector (a changed document's unchanged parts) keeps it."""
        texts = [chunk.embedding_text() for _, chunks in batch.documents for chunk in chunks]
        try:
            vectors = self._embed_new(texts, batch.reusable)
        except Exception as error:
            if len(batch.documents) == 1:
                return [], [(batch.documents[0][0].document.source_uri, error)]
            # Find the document the embedder chokes on; the others go through.
            prepared: list[PreparedDocument] = []
            failures: list[_Failure] = []
            for loaded, chunks in batch.documents:
                try:
                    document_vectors = self._embed_new([chunk.embedding_text() for chunk in chunks], batch.reusable)
                except Exception as document_error:
                    failures.append((loaded.document.source_uri, document_error))
                    continue
                prepared.append(PreparedDocument(loaded.document, loaded.content_hash, chunks, document_vectors))
            return prepared, failures
        prepared, offset = [], 0
        for loaded, chunks in batch.documents:
            document_vectors = vectors[offset : offset + len(chunks)]
            prepared.append(PreparedDocument(loaded.document, loaded.content_hash, chunks, document_vectors))
            offset += len(chunks)
        return prepared, []

    def _embed_new(self, texts: list[str], reusable: dict[str, npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        """Vectors for ``texts``, in order: the stored one where there is one, the rest embedded in one call."""
        if not reusable or not texts:
            return self._embedder.embed_array(texts)
        fresh = [text for text in dict.fromkeys(texts) if text not in reusable]
        embedded = dict(zip(fresh, self._embedder.embed_array(fresh), strict=True)) if fresh else {}
        return np.stack([reusable[text] if text in reusable else embedded[text] for text in texts])

    def _note_failures(self, failures: list[_Failure], report: IngestReport) -> None:
        for uri, error in failures:
            report.failed.append((uri, f"{type(error).__name__}: {error}"))
            log.warning("document failed before writing", source=uri, exc_info=error)
            self._progress(uri, None)

    async def _write(
        self, collection: Collection, prepared: list[PreparedDocument], known: dict[str, str], report: IngestReport
    ) -> None:
        """Write a batch in one transaction; if it fails, each document in its own, to find the culprit."""
        try:
            written = await self._write_transaction(collection, prepared)
            self._record(prepared, known, report, written)
        except Exception:
            if len(prepared) == 1:
                self._fail(prepared[0], report)
                return
            for document in prepared:
                try:
                    written = await self._write_transaction(collection, [document])
                    self._record([document], known, report, written)
                except Exception:
                    self._fail(document, report)

    async def _write_transaction(self, collection: Collection, prepared: list[PreparedDocument]) -> int:
        async with self._database, session_scope(self._sessionmaker) as session:
            return await write_documents(session, collection, prepared)

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
