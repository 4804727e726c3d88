"""PDF: the text layer of each page, in page order."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError

from knowledge.documents import SourceDocument
from knowledge.loaders.errors import LoadError

# pypdf's messages can run long; a skip reason is one line.
_MAX_REASON_CHARS = 160


def load_pdf(raw: bytes, *, source_uri: str, fallback_title: str) -> SourceDocument:
    """A PDF: title from its metadata, else ``fallback_title``; ``metadata["pages"]`` is the page count.

    Corrupt, encrypted and text-less (scanned) PDFs raise :class:`LoadError`.
    """
    # pypdf reports damage with many exception types (and the odd ValueError or KeyError from deep inside);
    # whichever it is, the user's answer is the same: this file cannot be read.
    try:
        reader = PdfReader(io.BytesIO(raw))
        _unlock(reader, source_uri)
        pages = [_page_text(page) for page in reader.pages]
        title, author = _title_and_author(reader)
    except LoadError:
        raise
    except FileNotDecryptedError:
        raise LoadError(source_uri, "encrypted PDF (needs a password)") from None
    except Exception as error:
        raise LoadError(source_uri, f"corrupt PDF ({_describe(error)})") from None
    text = "\n\n".join(page for page in pages if page)
    if not text:
        raise LoadError(source_uri, "no extractable text (scanned PDF?)")
    metadata: dict[str, Any] = {"pages": len(pages)}
    if author:
        metadata["author"] = author
    return SourceDocument(source_uri=source_uri, title=title or fallback_title, text=text + "\n", metadata=metadata)


def _unlock(reader: PdfReader, source_uri: str) -> None:
    """Open an encrypted PDF that has no user password (many are "encrypted" only to restrict printing)."""
    if not reader.is_encrypted:
        return
    try:
        unlocked = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except DependencyError as error:  # AES needs the optional cryptography package
        raise LoadError(source_uri, f"encrypted PDF ({error})") from None
    if not unlocked:
        raise LoadError(source_uri, "encrypted PDF (needs a password)")


def _page_text(page: PageObject) -> str:
    # NUL never belongs in text, and PostgreSQL refuses to store it.
    return (page.extract_text() or "").replace("\0", "").strip()


def _title_and_author(reader: PdfReader) -> tuple[str, str]:
    info = reader.metadata
    if info is None:
        return "", ""
    return " ".join((info.title or "").split()), " ".join((info.author or "").split())


def _describe(error: Exception) -> str:
    message = " ".join(str(error).split())[:_MAX_REASON_CHARS]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
