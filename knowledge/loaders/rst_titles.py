"""The fallback for rST that docutils cannot parse: section titles become ``#`` headings, the rest is kept."""

from __future__ import annotations

import string

# An adornment style: its character, and whether the title is overlined as well as underlined.
_Style = tuple[str, bool]

# docutils' rule: an underline shorter than its title still counts once it is this long.
_MIN_SHORT_UNDERLINE = 4


def rewrite_titles(text: str) -> tuple[str, list[str]]:
    """Rewrite section titles as ``#`` headings; returns the new text and the titles in order.

    Levels follow docutils: each adornment style gets the next level the first time it appears.
    """
    lines = text.split("\n")
    styles: list[_Style] = []
    titles: list[str] = []
    out: list[str] = []
    block_start = True  # titles only open a text block: right after a blank line or another title
    i = 0
    while i < len(lines):
        found = title_at(lines, i) if block_start else None
        if found is None:
            out.append(lines[i])
            block_start = not lines[i].strip()
            i += 1
            continue
        title, style, consumed = found
        if style not in styles:
            styles.append(style)
        level = min(styles.index(style) + 1, 6)
        if out and out[-1].strip():
            out.append("")
        out.extend(["#" * level + " " + title, ""])
        titles.append(title)
        i += consumed
        # Swallow the blank line that usually follows, so the heading has exactly one after it.
        if i < len(lines) and not lines[i].strip():
            i += 1
        block_start = True
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + ("\n" if text.endswith("\n") else ""), titles


def title_at(lines: list[str], i: int) -> tuple[str, _Style, int] | None:
    """The section title starting at line ``i``: (title text, adornment style, lines used), if any."""
    line = lines[i]
    following = lines[i + 1] if i + 1 < len(lines) else ""
    if _is_adornment(line):
        # Overline, title (may be inset), underline of the same character.
        after = lines[i + 2] if i + 2 < len(lines) else ""
        if following.strip() and not _is_adornment(following) and _is_adornment(after) and after[0] == line[0]:
            return following.strip(), (line[0], True), 3
        return None
    if not line.strip() or line[0].isspace() or not _is_adornment(following):
        return None
    title = line.strip()
    underline = following.rstrip()
    if len(underline) < len(title) and len(underline) < _MIN_SHORT_UNDERLINE:
        return None
    return title, (underline[0], False), 2


def _is_adornment(line: str) -> bool:
    """A line of one punctuation character repeated, from the first column."""
    stripped = line.rstrip()
    return bool(stripped) and stripped[0] in string.punctuation and stripped == stripped[0] * len(stripped)
