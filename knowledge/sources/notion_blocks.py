"""A Notion page as Markdown: its title, a database row's properties, then its blocks.

Notion gives a page's body as a tree of blocks: each has a ``type`` and an object of that name holding its
``rich_text`` (runs of text with annotations and links). The connector fetches the tree, putting each block's
children under :data:`CHILDREN`; this module turns it into the Markdown the loaders normalise, so that a Notion page
is chunked, titled and cited like any Markdown file.

Plain text is escaped (every ASCII punctuation character Markdown may read as syntax gets a backslash, which the
parser removes again): a Notion paragraph that starts with ``#``, ``1.`` or ``:::`` stays a paragraph, and a ``<``
stays a character. Heading levels move down one, under the page title's ``#``. Block types with nothing to read
(images, embeds of other apps, tables of contents) are skipped, as are any types Notion adds later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from knowledge.loaders.markdown_inline import code_span
from knowledge.loaders.markdown_render import fence

Block = Mapping[str, Any]
RichText = Sequence[Mapping[str, Any]]

CHILDREN = "children"
"""The key under which the connector puts a block's fetched children (Notion's own block objects have none)."""
NOTION_WEB = "https://www.notion.so"

_HEADING_LEVELS = {"heading_1": 2, "heading_2": 3, "heading_3": 4}
_BULLETED = frozenset({"bulleted_list_item", "to_do", "toggle"})
_LIST_ITEMS = _BULLETED | {"numbered_list_item"}
_TRANSPARENT = frozenset({"synced_block", "column_list", "column"})
"""Containers with nothing of their own: their children are read in their place."""
_LINKS = frozenset({"bookmark", "embed", "link_preview"})
RENDERED_CHILDREN = frozenset({"paragraph", "quote", "callout", "table", *_HEADING_LEVELS, *_LIST_ITEMS, *_TRANSPARENT})
"""The block types whose children are part of the page (a child page's blocks are a page of their own): the
connector fetches children for these only."""

_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&:=])")
_SPACE_RUN = re.compile(r"\s+")
_LEADING_BREAKS = re.compile(r"(?:\\\n|\s)+")


def notion_url(page_id: str) -> str:
    """Where a page opens when only its id is known (Notion redirects to its titled address)."""
    return f"{NOTION_WEB}/{page_id.replace('-', '')}"


def page_markdown(title: str, blocks: Sequence[Block], *, properties: Sequence[tuple[str, str]] = ()) -> str:
    """The whole page: ``# title``, then ``**name:** value`` lines (already Markdown), then the body."""
    parts = [f"# {escape_markdown(_one_line(title))}"]
    if properties:
        parts.append("\\\n".join(f"**{escape_markdown(_one_line(name))}:** {value}" for name, value in properties))
    if body := blocks_markdown(blocks):
        parts.append(body)
    return "\n\n".join(parts) + "\n"


def blocks_markdown(blocks: Sequence[Block]) -> str:
    """A sequence of sibling blocks (with their fetched children) as Markdown blocks separated by blank lines."""
    return "\n\n".join(part.text for part in _Renderer().blocks(blocks))


def plain_text(rich_text: RichText | None) -> str:
    """The text of rich text runs without any formatting (titles, code)."""
    return "".join(str(run.get("plain_text") or "") for run in rich_text or ())


def rich_text_markdown(rich_text: RichText | None, *, breaks: bool = True, in_table: bool = False) -> str:
    """Rich text runs as inline Markdown: bold, italic, strikethrough, code and links kept, the rest escaped.

    ``breaks``: line breaks become hard breaks (else spaces, as a heading or table cell needs). ``in_table``: a
    ``|`` in code is escaped too, as a table cell requires."""
    out: list[str] = []
    for style, text in _runs(rich_text or ()):
        if style.code:
            code = " ".join(text.split("\n"))
            piece = code_span(code.replace("|", "\\|") if in_table else code)
        else:
            piece = escape_markdown(text)
            piece = _line_breaks_as(piece, "\\\n" if breaks else " ")
        piece = _emphasised(piece, style)
        if style.href and piece.strip():
            piece = f"[{piece}]({_destination(style.href)})"
        out.append(piece)
    return _without_edge_breaks("".join(out))


def _line_breaks_as(text: str, separator: str) -> str:
    """Each run of white space that holds a line break replaced by ``separator`` (whole runs: linear time)."""
    if "\n" not in text:
        return text
    return _SPACE_RUN.sub(lambda run: separator if "\n" in run[0] else run[0], text)


def _without_edge_breaks(text: str) -> str:
    """``text`` without the white space and hard breaks (``\\`` + newline) at either end, in linear time (a
    pattern anchored at the end would rescan a long run of spaces from each of its positions)."""
    leading = _LEADING_BREAKS.match(text)
    text = text[leading.end() :] if leading else text
    while True:
        trimmed = text.rstrip()
        if trimmed.endswith("\\") and len(trimmed) < len(text) and text[len(trimmed)] == "\n":
            text = trimmed[:-1]
        elif len(trimmed) == len(text):
            return text
        else:
            text = trimmed


def escape_markdown(text: str) -> str:
    """``text`` with a backslash before each character Markdown could read as syntax."""
    return _SPECIAL.sub(r"\\\1", text)


def property_text(value: Mapping[str, Any]) -> str:
    """A database property's value as inline Markdown; "" when empty or of a kind with nothing to read (relations,
    rollups, files, the people and times Notion records itself)."""
    kind = value.get("type")
    data = value.get(kind) if isinstance(kind, str) else None
    if kind in {"title", "rich_text"}:
        return rich_text_markdown(data, breaks=False)
    if data is None or data == [] or data == "":
        return ""
    if kind in {"select", "status"}:
        return escape_markdown(str(data.get("name") or ""))
    if kind == "multi_select":
        return ", ".join(escape_markdown(str(option.get("name") or "")) for option in data)
    if kind in {"number", "url", "email", "phone_number"}:
        return escape_markdown(str(data))
    if kind == "checkbox":
        return "Yes" if data else "No"
    if kind == "date":
        return escape_markdown(_date(data))
    if kind == "people":
        return ", ".join(escape_markdown(str(person.get("name"))) for person in data if person.get("name"))
    if kind == "unique_id":
        prefix = data.get("prefix")
        return escape_markdown(f"{prefix}-{data.get('number')}" if prefix else str(data.get("number")))
    if kind == "formula":
        result = data.get(data.get("type")) if isinstance(data.get("type"), str) else None
        if result is None or result == "":
            return ""
        if isinstance(result, bool):
            return "Yes" if result else "No"
        return escape_markdown(_date(result) if isinstance(result, Mapping) else str(result))
    return ""


def _date(value: Mapping[str, Any]) -> str:
    start, end = value.get("start"), value.get("end")
    return f"{start} → {end}" if end else str(start or "")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class _Style:
    bold: bool = False
    italic: bool = False
    strikethrough: bool = False
    code: bool = False
    href: str | None = None


def _runs(rich_text: RichText) -> list[tuple[_Style, str]]:
    """Runs merged with their neighbours of the same style: ``**a****b**`` would not read as bold."""
    merged: list[tuple[_Style, str]] = []
    for run in rich_text:
        text = str(run.get("plain_text") or "")
        if not text:
            continue
        notes = run.get("annotations") or {}
        href = run.get("href")
        style = _Style(
            bold=bool(notes.get("bold")),
            italic=bool(notes.get("italic")),
            strikethrough=bool(notes.get("strikethrough")),
            code=bool(notes.get("code")),
            href=str(href) if href else None,
        )
        if merged and merged[-1][0] == style:
            merged[-1] = (style, merged[-1][1] + text)
        else:
            merged.append((style, text))
    return merged


def _emphasised(piece: str, style: _Style) -> str:
    """``piece`` between the style's delimiters, its edge spaces kept outside (``** a**`` is not bold)."""
    core = piece.strip()
    if not core:
        return piece
    delimiters = ("**" if style.bold else "") + ("*" if style.italic else "") + ("~~" if style.strikethrough else "")
    if not delimiters:
        return piece
    lead = piece[: len(piece) - len(piece.lstrip())]
    trail = piece[len(lead) + len(core) :]
    return f"{lead}{delimiters}{core}{delimiters[::-1]}{trail}"


def _destination(href: str) -> str:
    """A link target as Markdown writes it: Notion's own links made absolute, awkward ones in ``<…>``."""
    if href.startswith("/"):
        href = NOTION_WEB + href
    if any(char in href for char in " <>\n") or href.count("(") != href.count(")"):
        return "<" + href.replace("<", "%3C").replace(">", "%3E").replace("\n", "") + ">"
    return href


@dataclass(frozen=True, slots=True)
class _Part:
    text: str
    is_list: bool = False


class _Renderer:
    def blocks(self, blocks: Sequence[Block]) -> list[_Part]:
        """Sibling blocks, consecutive list items of one kind gathered into one list."""
        parts: list[_Part] = []
        run: list[str] = []
        run_kind = ""
        for block in blocks:
            kind = str(block.get("type") or "")
            group = "numbered" if kind == "numbered_list_item" else "bulleted" if kind in _BULLETED else ""
            if run and group != run_kind:
                parts.append(_Part("\n".join(run), is_list=True))
                run = []
            if group:
                run_kind = group
                marker = f"{len(run) + 1}. " if group == "numbered" else "- "
                run.append(self._item(block, marker))
            else:
                parts.extend(part for part in self._block(block) if part.text.strip())
        if run:
            parts.append(_Part("\n".join(run), is_list=True))
        return parts

    def _children(self, block: Block) -> list[_Part]:
        return self.blocks(block.get(CHILDREN) or ())

    def _block(self, block: Block) -> list[_Part]:
        kind = str(block.get("type") or "")
        data: Mapping[str, Any] = block.get(kind) or {}
        if kind == "paragraph":
            return [_Part(rich_text_markdown(data.get("rich_text"))), *self._children(block)]
        if kind in _HEADING_LEVELS:
            text = rich_text_markdown(data.get("rich_text"), breaks=False)
            heading = [_Part(f"{'#' * _HEADING_LEVELS[kind]} {text}")] if text else []
            return heading + self._children(block)  # a toggle heading's content
        if kind in {"quote", "callout"}:
            return [_Part(self._quote(block, kind, data))]
        if kind == "code":
            return [
                _Part(fence(plain_text(data.get("rich_text")), _language(data.get("language")))),
                *self._caption(data),
            ]
        if kind == "divider":
            return [_Part("---")]
        if kind == "table":
            return [_Part(self._table(block))]
        if kind in {"child_page", "child_database"}:
            title = _one_line(str(data.get("title") or "")) or "Untitled"
            return [_Part(f"[{escape_markdown(title)}]({_destination(notion_url(str(block.get('id') or '')))})")]
        if kind in _LINKS and data.get("url"):
            label = rich_text_markdown(data.get("caption"), breaks=False) or escape_markdown(str(data["url"]))
            return [_Part(f"[{label}]({_destination(str(data['url']))})")]
        if kind in _TRANSPARENT:
            return self._children(block)
        return []

    def _item(self, block: Block, marker: str) -> str:
        kind = str(block.get("type") or "")
        data: Mapping[str, Any] = block.get(kind) or {}
        task = ("[x] " if data.get("checked") else "[ ] ") if kind == "to_do" else ""
        body = task + rich_text_markdown(data.get("rich_text"))
        for part in self._children(block):
            body += ("\n" if part.is_list else "\n\n") + part.text
        indent = " " * len(marker)
        first, *rest = body.split("\n")
        return "\n".join([f"{marker}{first}".rstrip(), *(f"{indent}{line}" if line else "" for line in rest)])

    def _quote(self, block: Block, kind: str, data: Mapping[str, Any]) -> str:
        text = rich_text_markdown(data.get("rich_text"))
        icon = data.get("icon") or {}
        if kind == "callout" and icon.get("type") == "emoji" and icon.get("emoji"):
            text = f"{icon['emoji']} {text}".rstrip()
        inner = "\n\n".join(part.text for part in [_Part(text), *self._children(block)] if part.text.strip())
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))

    def _caption(self, data: Mapping[str, Any]) -> list[_Part]:
        caption = rich_text_markdown(data.get("caption"))
        return [_Part(caption)] if caption else []

    def _table(self, block: Block) -> str:
        width = int((block.get("table") or {}).get("table_width") or 0)
        rows = [row for row in block.get(CHILDREN) or () if row.get("type") == "table_row"]
        lines: list[str] = []
        for index, row in enumerate(rows):
            found = (row.get("table_row") or {}).get("cells") or []
            cells = [rich_text_markdown(cell, breaks=False, in_table=True) for cell in found]
            cells += [""] * (max(width, 1) - len(cells))
            lines.append("| " + " | ".join(cells) + " |")
            if index == 0:  # Markdown tables need a header: the first row is one, whether Notion marks it or not
                lines.append("|" + " --- |" * len(cells))
        return "\n".join(lines)


def _language(name: object) -> str:
    """A fence's language from Notion's name for it: ``plain text`` → none, ``visual basic`` → ``visual-basic``."""
    words = str(name or "").lower().split()
    return "" if words in ([], ["plain", "text"]) else "-".join(words)
