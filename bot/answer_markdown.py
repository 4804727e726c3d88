"""An answer's Markdown in parts: code (fenced and indented blocks, tables) and the text between them.

Every chat surface converts the text to its own dialect and shows code as it is, byte for byte: the block
structure comes from markdown-it (the CommonMark parser the playground renders with), so a fence is found where
a Markdown reader would find it, and code spans are matched as CommonMark matches them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from markdown_it import MarkdownIt

PartKind = Literal["text", "fence", "indented", "table"]

_TICKS = re.compile(r"`+")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
# A closing fence with the citation written after it ("``` [2]"): CommonMark would read the fence as still open.
_CLOSE_CITED = re.compile(r"^( {0,3})(`{3,}|~{3,})[ \t]*((?:\[\d+\][ \t]*)+)$")
_BLANK_LINE = re.compile(r"(\n[ \t]*\n)")
_LANGUAGE = re.compile(r"[\w+#.-]{1,30}")


@dataclass(frozen=True, slots=True)
class Part:
    kind: PartKind
    text: str
    """The source lines: for ``text``, what to convert; for code, as written (markers and container prefixes)."""
    code: str = ""
    """The code itself, ending in a line break (a table's is its lines)."""
    language: str = ""
    """A fence's language, when its info string names one."""

    @property
    def is_code(self) -> bool:
        return self.kind != "text"


@cache
def _parser() -> MarkdownIt:
    # Blocks only: the inline pass (emphasis, links) is the costly part of parsing, and nothing here needs it.
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable(["inline", "text_join"])


def detach_citations(markdown: str) -> str:
    """``markdown`` with any citation written on a closing fence's line ("``` [2]") moved to the next line."""
    lines = markdown.split("\n")
    fence: str | None = None  # the open fence's marker
    for index, line in enumerate(lines):
        if fence is None:
            opened = _FENCE_OPEN.match(line)
            if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
                fence = opened.group(1)
            continue
        cited = _CLOSE_CITED.match(line)
        if cited and cited.group(2)[0] == fence[0] and len(cited.group(2)) >= len(fence):
            lines[index] = f"{cited.group(1)}{cited.group(2)}\n{cited.group(3).rstrip()}"
            fence = None
        else:
            bare = line.strip()
            indent = len(line) - len(line.lstrip(" "))
            if indent <= 3 and len(bare) >= len(fence) and set(bare) == {fence[0]}:
                fence = None
    return "\n".join(lines)


def split_parts(markdown: str) -> list[Part]:
    """``markdown`` as text and code parts, in order; joined with line breaks, their lines are its lines."""
    markdown = detach_citations(markdown)
    lines = markdown.split("\n")
    regions: list[tuple[int, int, PartKind, str, str]] = []
    for token in _parser().parse(markdown):
        if token.map is None or token.type not in ("fence", "code_block", "table_open"):
            continue
        start, end = token.map
        if token.type == "table_open":
            regions.append((start, end, "table", "\n".join(lines[start:end]) + "\n", ""))
            continue
        code = token.content if not token.content or token.content.endswith("\n") else token.content + "\n"
        language = token.info.split()[0] if token.info.strip() else ""
        kind: PartKind = "fence" if token.type == "fence" else "indented"
        regions.append((start, end, kind, code, language if _LANGUAGE.fullmatch(language) else ""))
    parts: list[Part] = []
    line = 0
    for start, end, kind, code, language in sorted(regions):
        if start < line:  # nested inside a region already taken (cannot happen in CommonMark; kept safe)
            continue
        if start > line:
            parts.append(Part("text", "\n".join(lines[line:start])))
        parts.append(Part(kind, "\n".join(lines[start:end]), code, language))
        line = end
    if line < len(lines):
        parts.append(Part("text", "\n".join(lines[line:])))
    return parts


def code_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each code span in one paragraph: a run of backticks closed by the next run of the
    same length (CommonMark's rule). Runs are looked up by length, so this stays O(n log n) on any text."""
    runs = [(match.start(), match.end()) for match in _TICKS.finditer(text)]
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(runs):
        start, end = runs[index]
        same = by_length[end - start]
        following = bisect_right(same, index)
        if following < len(same):
            closing = same[following]
            spans.append((start, runs[closing][1]))
            index = closing + 1
        else:
            index += 1
    return spans


def hold_code_spans(text: str, hold: Callable[[str], str]) -> str:
    """``text`` with each code span replaced by what ``hold`` returns for it; spans never cross a blank line."""
    pieces: list[str] = []
    for paragraph in _BLANK_LINE.split(text):
        position = 0
        for start, end in code_spans(paragraph):
            pieces.append(paragraph[position:start])
            pieces.append(hold(paragraph[start:end]))
            position = end
        pieces.append(paragraph[position:])
    return "".join(pieces)
