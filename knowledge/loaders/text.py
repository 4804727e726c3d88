"""Plain text: kept as it is, titled after its file."""

from __future__ import annotations

from knowledge.documents import SourceDocument
from knowledge.loaders.errors import LoadError

# Like git and grep: a NUL byte near the start means binary, whatever the file is called.
SNIFF_BYTES = 8192


def looks_binary(raw: bytes) -> bool:
    """True when the start of ``raw`` holds a NUL byte, which no text format we read contains."""
    return b"\0" in raw[:SNIFF_BYTES]


def decode_text(raw: bytes, *, source_uri: str) -> str:
    """UTF-8 text (a BOM is dropped) with ``\\n`` line endings; binary or non-UTF-8 bytes raise :class:`LoadError`."""
    if looks_binary(raw):
        raise LoadError(source_uri, "binary file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LoadError(source_uri, f"binary file (not valid UTF-8 at byte {error.start})") from None
    # One line-ending convention, so a file ingested on Windows and Linux hashes the same.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_text(raw: bytes, *, source_uri: str, fallback_title: str) -> SourceDocument:
    """A ``.txt`` (or extensionless text) file."""
    return SourceDocument(source_uri=source_uri, title=fallback_title, text=decode_text(raw, source_uri=source_uri))
