"""Relative links resolved at ingest: a local path in a chat answer leads nowhere, its published page does.

Works on a loader's Markdown output. markdown-it finds the inline links (``[text](target)``), so links in code
spans, fenced or indented code and HTML blocks are never touched; each link's exact place in the text comes from
the inline parser's own positions, mapped back to the document line by line. Only the link's destination, or
its brackets when it becomes plain text, change: the rest of the text stays byte for byte.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline import link as markdown_it_link
from markdown_it.token import Token

from knowledge.documents import SourceDocument
from knowledge.published import PublishedSite, published_url

# A link to one of these (or to a folder) is a link to another page of the site.
DOCUMENT_SUFFIXES = frozenset({".md", ".mdx", ".markdown", ".rst", ".txt", ".html", ".htm"})
_LINKS_KEY = "threadwise_links"


@dataclass(frozen=True, slots=True)
class PageContext:
    """Where a page lives: a file of an ingested folder (``path``, with the site if one is known) or a URL."""

    path: str | None = None
    """POSIX, relative to the ingested folder (None for a page loaded from a URL or a lone file's location)."""
    site: PublishedSite | None = None
    page_url: str | None = None
    """The page's own published URL (or the URL it was fetched from), if known."""
    folder_suffix: str = ".md"
    """The suffix a folder link's index page is taken to have (the linking page's own)."""


@dataclass(frozen=True, slots=True)
class _Link:
    start: int
    label_end: int
    """Where the label's closing ``]`` is."""
    end: int
    destination: tuple[int, int]
    target: str


@dataclass(frozen=True, slots=True)
class _Edit:
    start: int
    end: int
    replacement: str


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark")
    md.disable("inline")  # each paragraph's inline content is parsed below, one at a time, to keep its links
    # javascript: links must be found too, to be neutralised (markdown-it's own check would leave them as text).
    md.validateLink = lambda url: True  # type: ignore[method-assign]

    def link(state: StateInline, silent: bool) -> bool:
        start = state.pos
        found = markdown_it_link(state, silent)
        if found and not silent:
            _record(state, start)
        return found

    md.inline.ruler.at("link", link)
    return md


def _record(state: StateInline, start: int) -> None:
    """Note an inline link (``[text](target)``) the link rule just consumed; reference links are not rewritten."""
    end = state.pos
    label_end = state.md.helpers.parseLinkLabel(state, start, True)
    pos = label_end + 1
    if label_end < 0 or pos >= end or state.src[pos] != "(":
        return
    pos += 1
    while pos < end and state.src[pos] in " \t\n":
        pos += 1
    parsed = state.md.helpers.parseLinkDestination(state.src, pos, end)
    if not parsed.ok:
        return
    state.env[_LINKS_KEY].append(_Link(start, label_end, end, (pos, parsed.pos), parsed.str))


_MD = _parser()


def resolve_links(text: str, page: PageContext) -> str:
    """``text`` with every inline link's target made useful in a chat (see :func:`rewrite_target`)."""
    if "](" not in text:
        return text  # no inline link: skip the parse
    env: dict[str, Any] = {}
    lines = text.split("\n")
    line_starts = [0]
    for line in lines[:-1]:
        line_starts.append(line_starts[-1] + len(line) + 1)
    edits: list[_Edit] = []
    for token in _MD.parse(text, env):
        if token.type == "inline" and token.map is not None and "](" in token.content:
            edits.extend(_inline_edits(token, env, text, lines, line_starts, page))
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.replacement + text[edit.end :]
    return text


def _inline_edits(
    token: Token, env: dict[str, Any], text: str, lines: list[str], line_starts: list[int], page: PageContext
) -> list[_Edit]:
    content = token.content
    env[_LINKS_KEY] = []
    _MD.inline.parse(content, _MD, env, [])
    links: list[_Link] = env.pop(_LINKS_KEY)
    if not links:
        return []
    to_text = _position_map(content, token.map[0] if token.map else 0, lines, line_starts)
    edits: list[_Edit] = []
    for link in links:
        new_target = rewrite_target(link.target, page)
        if new_target == link.target:
            continue
        if new_target is None:  # plain text: drop "[" and "](target …)"
            pieces = [(link.start, link.start + 1, ""), (link.label_end, link.end, "")]
        else:
            pieces = [(*link.destination, _markdown_safe(new_target))]
        mapped = [_map_piece(content, to_text, text, piece) for piece in pieces]
        if all(edit is not None for edit in mapped):
            edits.extend(edit for edit in mapped if edit is not None)
    return edits


def _position_map(
    content: str, first_line: int, lines: list[str], line_starts: list[int]
) -> Callable[[int], int | None]:
    """Content offset → text offset. The inline content of a block is its lines less their container prefixes
    (indentation, ``>``, list markers, ``#``) and surrounding blanks: each content line sits at the end of its
    source line, give or take trailing blanks and a heading's closing ``#``s."""
    offsets: list[tuple[int, int]] = []  # (content offset of the line, text offset of the same character)
    position = 0
    for k, content_line in enumerate(content.split("\n")):
        index = first_line + k
        if index >= len(lines):
            break
        column = lines[index].rstrip().rfind(content_line) if content_line else 0
        offsets.append((position, line_starts[index] + max(column, 0) if column >= 0 else -1))
        position += len(content_line) + 1

    def to_text(offset: int) -> int | None:
        for line_offset, text_offset in reversed(offsets):
            if offset >= line_offset:
                return None if text_offset < 0 else text_offset + offset - line_offset
        return None

    return to_text


def _map_piece(
    content: str, to_text: Callable[[int], int | None], text: str, piece: tuple[int, int, str]
) -> _Edit | None:
    start, end, replacement = piece
    text_start, text_end = to_text(start), to_text(end)
    if text_start is None or text_end is None or text_end <= text_start:
        return None
    # Checked, not trusted: where the mapping cannot be sure (a tab expanded to spaces), the link is left alone.
    if text[text_start] != content[start] or text[text_end - 1] != content[end - 1]:
        return None
    if "\n" not in content[start:end] and text[text_start:text_end] != content[start:end]:
        return None
    return _Edit(text_start, text_end, replacement)


def rewrite_target(target: str, page: PageContext) -> str | None:
    """What a link to ``target`` from ``page`` becomes: the same target, a new URL, or None for plain text.

    http(s) URLs stay; other schemes (``javascript:``, ``data:``, ``mailto:``…) become plain text. On a page
    loaded from a URL, relative targets resolve against it. In an ingested folder, a link to another page (a
    document suffix or a folder) or to an anchor of this one becomes its published URL when the site is known,
    else plain text; links to other files (images, downloads) become plain text, as their published place is
    unknown.
    """
    stripped = target.strip()
    if not stripped:
        return None
    try:
        parts = urlsplit(stripped)
    except ValueError:
        return None
    if parts.scheme:
        return target if parts.scheme.lower() in ("http", "https") and parts.netloc else None
    if page.page_url is not None and page.path is None:  # a page fetched from a URL
        return urljoin(page.page_url, stripped)
    if stripped.startswith("//"):
        return "https:" + stripped if parts.hostname else None
    if not parts.path:  # "#anchor" or "?query" on this page
        if page.page_url is None:
            return None
        return f"{page.page_url.split('#', 1)[0]}#{parts.fragment}" if parts.fragment else page.page_url
    return _document_url(unquote(parts.path), unquote(parts.fragment), page)


def _document_url(link_path: str, fragment: str, page: PageContext) -> str | None:
    if page.site is None or page.path is None:
        return None
    folder = link_path.endswith("/")
    suffix = posixpath.splitext(link_path.rstrip("/"))[1].lower()
    if not folder and suffix and suffix not in DOCUMENT_SUFFIXES:
        return None
    if link_path.startswith("/"):  # from the site's root, as MkDocs and Docusaurus read it
        joined = link_path.lstrip("/")
    else:
        joined = posixpath.join(posixpath.dirname(page.path), link_path)
    resolved = posixpath.normpath(joined) if joined else "."
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        return None  # outside the ingested folder
    if folder or not suffix:  # a folder: its index page, taken to be of the linking page's kind
        resolved = ("" if resolved == "." else resolved + "/") + "index" + page.folder_suffix
    return published_url(page.site, resolved, fragment=fragment)


def _markdown_safe(url: str) -> str:
    """A URL usable as a bare Markdown link destination: no blanks, no angle brackets, no parentheses."""
    for char, escaped in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, escaped)
    return url


def publish_document(document: SourceDocument, *, site: PublishedSite | None, site_path: str | None) -> SourceDocument:
    """``document`` with its published URL in ``metadata["url"]`` (when known) and its links resolved.

    ``site_path`` is where the file sits in the ingested folder; a document fetched from a URL is published at
    that URL. Docusaurus front matter (``slug``, ``id``) places the page itself; links to other pages use their
    default routes, since those pages' front matter is not read here.
    """
    metadata = {key: value for key, value in document.metadata.items() if key != "url"}  # ours, never the file's
    if document.source_uri.startswith(("http://", "https://")):
        page = PageContext(page_url=document.source_uri)
    elif site is not None and site_path is not None:
        slug, doc_id = metadata.get("slug"), metadata.get("id")
        url = published_url(
            site,
            site_path,
            slug=slug if isinstance(slug, str) else None,
            doc_id=doc_id if isinstance(doc_id, str) and "/" not in doc_id else None,
        )
        suffix = posixpath.splitext(site_path)[1].lower()
        page = PageContext(site_path, site, url, folder_suffix=suffix if suffix in DOCUMENT_SUFFIXES else ".md")
    else:
        page = PageContext(site_path)
    if page.page_url is not None:
        metadata["url"] = page.page_url
    return replace(document, text=resolve_links(document.text, page), metadata=metadata)
