"""The block structure of a chunk's Markdown: paragraphs, code, lists, tables, quotes and headings, in order.

The loaders hand over normalised Markdown (one line per paragraph, fenced code), so a line scan is enough to
find where one block ends and the next begins. The chunker uses it to keep a code block, list or table with the
sentence that introduces it; the extractive answers use it to quote that sentence and its block together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["paragraph", "code", "list", "table", "quote", "heading"]

# Fences are recognised at any indentation: one nested in a list item still holds code.
_FENCE_OPEN = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_FENCE_CLOSE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]{0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_TABLE_ROW = re.compile(r"^ {0,3}\|")
_QUOTE = re.compile(r"^ {0,3}>")
_INDENTED = re.compile(r"^(?: {2,}|\t)\S")

ATTACHED_KINDS: frozenset[BlockKind] = frozenset({"code", "list", "table"})
"""Blocks that a sentence introduces and that mean little without it."""


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    start: int
    """Index of its first line."""
    end: int
    """Index one past its last line."""
    text: str


def fence_spans(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges ``[start, end)`` of fenced code blocks, fence lines included; an unclosed fence runs to the end."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    fence = ""
    for i, line in enumerate(lines):
        if start is None:
            opening = _FENCE_OPEN.match(line)
            # A backtick in the info string makes the line inline code, not a fence.
            if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
                start, fence = i, opening["fence"]
        else:
            closing = _FENCE_CLOSE.match(line)
            if closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence):
                spans.append((start, i + 1))
                start = None
    if start is not None:
        spans.append((start, len(lines)))
    return spans


def _kind_of(line: str) -> BlockKind:
    if _HEADING.match(line):
        return "heading"
    if _LIST_ITEM.match(line):
        return "list"
    if _TABLE_ROW.match(line):
        return "table"
    if _QUOTE.match(line):
        return "quote"
    return "paragraph"


def _continues(kind: BlockKind, line: str) -> bool:
    """Whether a non-blank ``line`` right after a block of ``kind`` still belongs to it."""
    if kind == "heading":
        return False
    if kind == "list":
        return bool(_LIST_ITEM.match(line) or _INDENTED.match(line))
    if kind in ("table", "quote"):
        return _kind_of(line) == kind
    return _kind_of(line) == "paragraph"  # a heading, list, table or quote line starts a block of its own


def split_blocks(text: str) -> list[Block]:
    """``text``'s blocks in order; blank lines between them belong to none. A list runs on across blank lines
    while its items or their indented content continue (a loose list), code nested in it included."""
    lines = text.split("\n")
    fences = dict(fence_spans(lines))
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if i in fences:
            kind: BlockKind = "code"
            end = fences[i]
        else:
            kind = _kind_of(lines[i])
            end = i + 1
            while end < len(lines):
                line = lines[end]
                if kind == "list" and end in fences and _INDENTED.match(line):
                    end = fences[end]  # a fence inside a list item
                    continue
                if line.strip() and end not in fences and _continues(kind, line):
                    end += 1
                    continue
                if kind == "list" and not line.strip():
                    following = next((j for j in range(end, len(lines)) if lines[j].strip()), None)
                    if following is not None and _continues("list", lines[following]):
                        end = following
                        continue
                break
        blocks.append(Block(kind, i, end, "\n".join(lines[i:end]).rstrip()))
        i = end
    return blocks
