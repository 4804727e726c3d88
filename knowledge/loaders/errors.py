"""Why a file or URL could not be loaded, in words for the person who asked for it."""

from __future__ import annotations


class LoadError(Exception):
    """A source that cannot become a document.

    ``str()`` is the reason alone ("binary file"), since callers already show which source it is about;
    :attr:`message` is the whole line: "skipped docs/logo.png: binary file".
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(reason)

    @property
    def message(self) -> str:
        """The line to show a user: "skipped <source>: <reason>"."""
        return f"skipped {self.source}: {self.reason}"

    @classmethod
    def too_large(cls, source: str, *, size: int | None, limit: int) -> LoadError:
        """Over ``KNOWLEDGE_MAX_FILE_BYTES``; ``size`` is None when a stream was cut off before its end."""
        size_text, limit_text = (human_size(size) if size is not None else "the body"), human_size(limit)
        if size_text == limit_text:  # just over: rounding would show "20 MB is over the 20 MB limit"
            size_text, limit_text = f"{size:,} bytes", f"{limit:,}-byte"
        return cls(source, f"{size_text} is over the {limit_text} limit (KNOWLEDGE_MAX_FILE_BYTES)")


def human_size(size: int) -> str:
    """Decimal units, as people read file sizes: ``31.2 MB``, ``20 MB``, ``512 bytes``."""
    if size < 1000:
        return f"{size} bytes"
    unit, scale = next((unit, scale) for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)) if size >= scale)
    return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
