"""Markdown and MDX files: YAML front matter lifted into metadata, the rest normalised to clean Markdown."""

from __future__ import annotations

import re
from typing import Any

from knowledge.documents import SourceDocument
from knowledge.loaders.markdown_render import normalise_markdown
from knowledge.loaders.text import decode_text

_ATX_H1 = re.compile(r"^ {0,3}#[ \t]+(?P<title>.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
_FRONT_MATTER_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+(?P<value>.*?))?[ \t]*$")


def load_markdown(raw: bytes, *, source_uri: str, fallback_title: str) -> SourceDocument:
    """A ``.md``/``.mdx`` file, titled by its first ``# `` heading, else front-matter ``title:``, else the fallback.

    The text comes out normalised (see :mod:`knowledge.loaders.markdown_render`): the chunker and the answer
    extractor rely on its shape, whichever site generator the file was written for.
    """
    text = decode_text(raw, source_uri=source_uri)
    metadata, text = split_front_matter(text)
    text = normalise_markdown(text, mdx=_is_mdx(source_uri))
    front_title = metadata.get("title")
    title = first_h1(text) or (front_title.strip() if isinstance(front_title, str) else "") or fallback_title
    return SourceDocument(source_uri=source_uri, title=title, text=text, metadata=metadata)


def _is_mdx(source_uri: str) -> bool:
    """MDX by name, whether a path or a URL (a query or fragment after the name does not count)."""
    path = source_uri.split("#", 1)[0].split("?", 1)[0]
    return path.lower().endswith(".mdx")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Separate a leading ``---`` … ``---`` block; its flat ``key: value`` lines become metadata.

    Nested mappings and block lists are left out: metadata is for simple labels, and a YAML parser would be
    a dependency for little gain. ``[a, b]`` flow lists become lists of strings.
    """
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, text
    end = next((i for i, line in enumerate(lines[1:], start=1) if line.rstrip() in {"---", "..."}), None)
    if end is None:  # an opening rule with no closing one is a thematic break, not front matter
        return {}, text
    metadata: dict[str, Any] = {}
    for line in lines[1:end]:
        match = _FRONT_MATTER_KEY.match(line)
        if match is None or not match["value"] or match["value"].startswith("#"):
            continue
        metadata[match["key"]] = _scalar_or_list(match["value"])
    return metadata, "\n".join(lines[end + 1 :]).lstrip("\n")


def _scalar_or_list(value: str) -> str | list[str]:
    if value.startswith("[") and value.endswith("]"):
        return [_unquote(item.strip()) for item in value[1:-1].split(",") if item.strip()]
    return _unquote(value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def first_h1(text: str) -> str | None:
    """The text of the first ``# `` heading outside fenced code blocks, if any."""
    fence: str | None = None
    for line in text.split("\n"):
        opening = _FENCE.match(line)
        if fence is not None:
            # A fence closes with the same character, at least as long as the one that opened it.
            if opening and opening["fence"][0] == fence[0] and len(opening["fence"]) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening["fence"]
            continue
        heading = _ATX_H1.match(line)
        if heading:
            return heading["title"].strip()
    return None
