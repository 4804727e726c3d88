"""Files: pick the loader by suffix, after checking the file is small enough and not binary.

:func:`load_file` reads a local file; :func:`load_bytes` loads a file's bytes fetched elsewhere the same way.
"""

from __future__ import annotations

import stat
from pathlib import Path, PurePosixPath
from typing import Protocol

from knowledge.documents import SourceDocument
from knowledge.loaders.errors import LoadError
from knowledge.loaders.html import load_html
from knowledge.loaders.markdown import load_markdown
from knowledge.loaders.pdf import load_pdf
from knowledge.loaders.rst import load_rst
from knowledge.loaders.text import SNIFF_BYTES, load_text, looks_binary


class Loader(Protocol):
    """Turns one format's bytes into a document."""

    def __call__(self, raw: bytes, *, source_uri: str, fallback_title: str) -> SourceDocument: ...


LOADERS_BY_SUFFIX: dict[str, Loader] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".mdx": load_markdown,
    ".txt": load_text,
    ".rst": load_rst,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(LOADERS_BY_SUFFIX)
"""Lower-case suffixes :func:`load_file` reads (files with no suffix are read as plain text)."""


def load_file(path: Path, *, root: Path | None = None, max_bytes: int) -> SourceDocument:
    """Load one file; any reason it cannot become a document raises :class:`LoadError`.

    With ``root`` (a directory being ingested), the document's ``source_uri`` is the path relative to it.
    """
    source_uri = source_uri_for(path, root=root)
    # Messages name the file as the user knows it: its relative path, or the path they gave.
    shown = source_uri if root is not None and not source_uri.startswith("file:") else str(path)
    try:
        return _load(path, source_uri=source_uri, shown=shown, max_bytes=max_bytes)
    except LoadError as error:
        if error.source == shown:
            raise
        raise LoadError(shown, error.reason) from None


def _load(path: Path, *, source_uri: str, shown: str, max_bytes: int) -> SourceDocument:
    try:
        info = path.stat()
    except OSError as error:
        raise LoadError(shown, f"cannot read ({error.strerror or type(error).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise LoadError(shown, "not a regular file")
    # Checked before reading: an oversized file is never pulled into memory.
    if info.st_size > max_bytes:
        raise LoadError.too_large(shown, size=info.st_size, limit=max_bytes)

    if _loader_for(path.name) is None:
        # Never read whole: its start tells a binary file (said so) from one of an unsupported type.
        raw = _read(path, shown, limit=SNIFF_BYTES)
    else:
        # Read at most one byte past the limit, in case the file grew since it was measured.
        raw = _read(path, shown, limit=max_bytes + 1)
        if len(raw) > max_bytes:
            raise LoadError.too_large(shown, size=len(raw), limit=max_bytes)
    return load_bytes(raw, path.name, source_uri=source_uri, shown=shown)


def load_bytes(raw: bytes, name: str, *, source_uri: str, shown: str | None = None) -> SourceDocument:
    """``raw`` loaded as a file called ``name`` (a file name or a ``/``-separated path) is: by the loader of its
    suffix (none: plain text), titled after its name. The bytes may come from anywhere (a local file, a repository).

    Binary data or an unsupported type raises :class:`LoadError` naming ``shown`` (default: ``name``); to tell the
    two apart, the first :data:`SNIFF_BYTES` of a file of an unsupported type are enough.
    """
    shown = shown or name
    file = PurePosixPath(name)
    loader = _loader_for(name)
    if loader is not load_pdf and looks_binary(raw):
        raise LoadError(shown, "binary file")
    if loader is None:
        raise LoadError(shown, f"unsupported file type {file.suffix.lower()}")
    return loader(raw, source_uri=source_uri, fallback_title=fallback_title(file.stem))


def _loader_for(name: str) -> Loader | None:
    """The loader of a file called ``name``, by its suffix (none: plain text); None for an unsupported type."""
    suffix = PurePosixPath(name).suffix.lower()
    return LOADERS_BY_SUFFIX.get(suffix) or (load_text if not suffix else None)


def _read(path: Path, shown: str, *, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(limit)
    except OSError as error:
        raise LoadError(shown, f"cannot read ({error.strerror or type(error).__name__})") from None


def source_uri_for(path: Path, *, root: Path | None = None) -> str:
    """What a file is recorded as: its POSIX path relative to ``root``, else its absolute ``file://`` URI.

    Relative URIs are what make re-ingesting a directory from another working directory match the first run.
    """
    if root is not None:
        try:
            return path.absolute().relative_to(root.absolute()).as_posix()
        except ValueError:
            pass  # not under root: fall back to the absolute URI
    return path.resolve().as_uri()


def fallback_title(stem: str) -> str:
    """A title made from a file name: ``getting-started_guide`` → ``getting started guide``."""
    return " ".join(stem.replace("-", " ").replace("_", " ").split()) or stem
