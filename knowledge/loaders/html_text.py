"""Raw HTML and JSX inside Markdown: tags go, their text stays, ``<script>``/``<style>`` go with their contents.

A scanner rather than an HTML parser: the input is fragments (one tag, or a block cut off at a blank line),
and every search moves forward, so the time is linear in the fragment's length.
"""

from __future__ import annotations

import re

_TAG_START = re.compile(r"</?(?P<name>[A-Za-z][\w.:-]*)")
_LABEL = re.compile(
    r"""\blabel[ \t]*=[ \t]*(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)'|\{[ \t]*["'](?P<jsx>[^"']*)["'])"""
)
RAW_TEXT_TAGS = frozenset({"script", "style"})


def tag_name(tag: str) -> tuple[str, bool] | None:
    """The lower-cased name of a tag such as ``<kbd>`` or ``</kbd>``, and whether it closes; None for comments."""
    match = _TAG_START.match(tag)
    if match is None:
        return None
    return match["name"].lower(), tag.startswith("</")


def tab_label(tag: str) -> str | None:
    """The ``label`` of a Docusaurus ``<TabItem value="x" label="Y">``, if the tag is one."""
    named = tag_name(tag)
    if named is None or named != ("tabitem", False):
        return None
    match = _LABEL.search(tag)
    if match is None:
        return None
    return (match["double"] or match["single"] or match["jsx"] or "").strip() or None


def html_block_text(html: str) -> str:
    """The text of an HTML block with its tags dropped; a ``<TabItem label>`` leaves a ``**label**`` paragraph."""
    lowered = html.lower()
    out: list[str] = []
    pos = 0
    while pos < len(html):
        start = html.find("<", pos)
        if start < 0:
            out.append(html[pos:])
            break
        out.append(html[pos:start])
        if html.startswith("<!--", start):
            end = html.find("-->", start + 4)
            pos = len(html) if end < 0 else end + 3
            continue
        match = _TAG_START.match(html, start)
        if match is None and not html.startswith(("<!", "<?"), start):
            out.append("<")
            pos = start + 1
            continue
        end = _tag_end(html, match.end() if match else start + 2)
        if end < 0:  # no closing ">" anywhere after: this and the rest are text
            out.append(html[start:])
            break
        pos = end
        name = match["name"].lower() if match else ""
        if name in RAW_TEXT_TAGS and html[start + 1] != "/":
            close = lowered.find(f"</{name}", end)
            after = -1 if close < 0 else html.find(">", close)
            pos = len(html) if after < 0 else after + 1
            continue
        label = tab_label(html[start:end])
        if label:
            out.append(f"\n\n**{label}**\n\n")
    return "".join(out)


def _tag_end(html: str, pos: int) -> int:
    """The index just past the ``>`` that closes a tag, skipping quoted and ``{…}`` attribute values; -1 if none."""
    quote = ""
    depth = 0
    for index in range(pos, len(html)):
        char = html[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == ">" and depth == 0:
            return index + 1
    return -1
