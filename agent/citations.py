"""Citations in answers: keep the [n] that point at a real source, renumber them in order of first use."""

from __future__ import annotations

import re

_CITATION = re.compile(r"\[(\d{1,3})\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+([.,;:!?])")
_DOUBLE_SPACES = re.compile(r"[ \t]{2,}")


def resolve_citations(text: str, available: int) -> tuple[str, list[int]]:
    """Return the text with valid citations renumbered 1..k and invalid ones removed, and the cited source
    numbers (1-based, as the model saw them) in their new order."""
    order: list[int] = []

    def renumber(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if not 1 <= number <= available:
            return ""
        if number not in order:
            order.append(number)
        return f"[{order.index(number) + 1}]"

    cleaned = _CITATION.sub(renumber, text)
    cleaned = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", cleaned)
    cleaned = _DOUBLE_SPACES.sub(" ", cleaned)
    return cleaned.strip(), order
