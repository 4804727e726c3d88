"""Inline Markdown back to text: emphasis, code spans and links kept; images, raw tags and footnote markers dropped.

Walks an ``inline`` token's flat children with an explicit stack, never recursion: ``****…a…****`` nests
emphasis thousands deep, which would overflow the interpreter's stack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it.token import Token

from knowledge.loaders.html_text import RAW_TEXT_TAGS, tag_name

_BACKTICKS = re.compile(r"`+")
_DELIMITERS = {"em": "*", "strong": "**", "s": "~~"}
_DROPPED = frozenset({"footnote_ref", "footnote_anchor", "attr_list"})


def longest_backtick_run(text: str) -> int:
    """The length of the longest run of backticks in ``text`` (0 if none)."""
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def render_inline(tokens: Sequence[Token] | None) -> str:
    """The children of one ``inline`` token as Markdown text, soft breaks unwrapped to spaces."""
    # One buffer per open link: its text decides whether the link is kept (an image-only badge is not).
    buffers: list[list[str]] = [[]]
    links: list[Token] = []
    raw_text_tag: str | None = None  # inside an inline <script> or <style>: dropped up to its closing tag
    for token in tokens or ():
        kind = token.type
        if raw_text_tag is not None:
            if kind == "html_inline" and tag_name(token.content) == (raw_text_tag, True):
                raw_text_tag = None
            continue
        if kind == "image":
            continue  # its alt text lives in its own children, which are not walked
        if kind == "link_open":
            links.append(token)
            buffers.append([])
            continue
        if kind == "link_close" and links:
            text = "".join(buffers.pop())
            _append(buffers[-1], _link(links.pop(), text))
            continue
        if kind == "html_inline":
            named = tag_name(token.content)
            if named is not None and named[0] in RAW_TEXT_TAGS and not named[1]:
                raw_text_tag = named[0]
            continue
        _append(buffers[-1], "" if kind in _DROPPED else _piece(token))
    while len(buffers) > 1:  # unbalanced links cannot come from the parser, but must not lose text
        text = "".join(buffers.pop())
        _append(buffers[-1], text)
    return "".join(buffers[0])


def _piece(token: Token) -> str:
    kind = token.type
    if kind == "text":
        return token.content
    if kind == "softbreak":
        return " "  # paragraphs are unwrapped: one line each
    if kind == "hardbreak":
        return "\n"
    if kind == "code_inline":
        return code_span(token.content)
    base = kind.removesuffix("_open").removesuffix("_close")
    return _DELIMITERS.get(base, "")


def _append(buffer: list[str], part: str) -> None:
    # Where a dropped tag or comment sat between two spaces, one space is enough.
    if part.startswith(" ") and buffer and buffer[-1].endswith(" "):
        part = part[1:]
    if part:
        buffer.append(part)


def _link(token: Token, text: str) -> str:
    if token.markup == "autolink":
        return f"<{text}>"
    if not text.strip():  # a link around an image only (a badge): nothing left to read
        return ""
    href = str(token.attrs.get("href", ""))
    if any(char in href for char in " <>\n") or href.count("(") != href.count(")"):
        href = "<" + href.replace("<", "%3C").replace(">", "%3E").replace("\n", " ") + ">"
    return f"[{text}]({href})"


def code_span(code: str) -> str:
    """``code`` between enough backticks that none inside closes it early."""
    fence = "`" * (longest_backtick_run(code) + 1)
    # A space pads the code when it starts or ends with a backtick, or would lose its own edge spaces.
    padded = code.startswith("`") or code.endswith("`") or (code[:1] == code[-1:] == " " and code.strip() != "")
    return f"{fence} {code} {fence}" if padded else f"{fence}{code}{fence}"
