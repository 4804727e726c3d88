"""Markdown (and MDX, and the dialects of documentation sites) to one clean, normalised Markdown.

Parsed to a token tree by :mod:`knowledge.loaders.doc_sites`, then written back block by block: ATX headings,
unwrapped paragraphs, fenced code with its content byte for byte, admonitions and tabs as labelled paragraphs.
"""

from __future__ import annotations

import gc
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from markdown_it.tree import SyntaxTreeNode

from knowledge.loaders.doc_sites import DOCUSAURUS_CONTAINER, MARKDOWN, MDX
from knowledge.loaders.html_text import html_block_text
from knowledge.loaders.markdown_inline import longest_backtick_run, render_inline

# HTML blocks are parsed again as Markdown once their tags are gone (JSX wraps Markdown); this bounds that.
_MAX_HTML_DEPTH = 2
_ALIGNMENT = {"text-align:left": ":---", "text-align:center": ":---:", "text-align:right": "---:"}
_CONTAINERS = {"admonition", "alert", f"container_{DOCUSAURUS_CONTAINER}"}


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    paragraph: bool = False  # an admonition's label joins its first block only when that is a paragraph


def normalise_markdown(text: str, *, mdx: bool = False) -> str:
    """``text`` as normalised Markdown: blocks separated by one blank line, ending in a newline ("" if empty)."""
    with _collector_paused():
        return _render(text, mdx=mdx, depth=0)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while one document is converted.

    A big page makes hundreds of thousands of tokens and nodes, all alive until the end; the collector would
    rescan them again and again as they pile up (measured: 4x the time on 1 MB). They are freed right after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _render(text: str, *, mdx: bool, depth: int) -> str:
    parser = MDX if mdx else MARKDOWN
    tokens = parser.parse(text, {"mdx": mdx})
    for token in tokens:
        if token.type == "inline":
            # Inline children are walked flat, not as a tree: emphasis can nest deeper than the stack allows.
            token.meta = {**token.meta, "inline": token.children}
            token.children = None
    tree = SyntaxTreeNode(tokens)
    blocks = _Renderer(mdx=mdx, depth=depth).blocks(tree.children)
    return "\n\n".join(block.text for block in blocks) + "\n" if blocks else ""


class _Renderer:
    def __init__(self, *, mdx: bool, depth: int) -> None:
        self._mdx = mdx
        self._depth = depth

    def blocks(self, nodes: Sequence[SyntaxTreeNode]) -> list[_Block]:
        return [block for node in nodes for block in self._block(node) if block.text.strip()]

    def _block(self, node: SyntaxTreeNode) -> list[_Block]:
        kind = node.type
        if kind == "paragraph":
            return [_Block(self._paragraph(node), paragraph=True)]
        if kind == "heading":
            text = " ".join(self._text(node).split())
            return [_Block(f"{'#' * int(node.tag[1:])} {text}")] if text else []
        if kind in {"fence", "code_block"}:
            return [_Block(fence(node.content, _language(node.info) if kind == "fence" else ""))]
        if kind in {"bullet_list", "ordered_list"}:
            return [_Block(self._list(node))]
        if kind == "blockquote":
            inner = "\n\n".join(block.text for block in self.blocks(node.children))
            return [_Block("\n".join(f"> {line}" if line else ">" for line in inner.split("\n")))]
        if kind == "hr":
            return [_Block("---")]
        if kind == "table":
            return [_Block(self._table(node))]
        if kind == "html_block":
            return self._html(node.content)
        if kind in _CONTAINERS:
            return self._labelled(self._label(node), node.children, title=True)
        if kind == "tab":
            return [_Block(f"**{node.meta.get('label', '')}**"), *self.blocks(node.children)]
        if kind == "dl":
            return self._definitions(node)
        # footnote_block and anything else: its blocks, at this level
        return self.blocks([child for child in node.children if child.type != "footnote_anchor"])

    def _text(self, node: SyntaxTreeNode) -> str:
        inline = node.children[0] if node.children else None
        return render_inline(inline.meta.get("inline") if inline is not None else None)

    def _paragraph(self, node: SyntaxTreeNode) -> str:
        lines = (line.strip() for line in self._text(node).split("\n"))
        # Text that was escaped must not come back as a heading or a fence for the chunker to find.
        return "\n".join("\\" + line if line.startswith(("#", "```", "~~~")) else line for line in lines if line)

    def _label(self, node: SyntaxTreeNode) -> str:
        if node.type == "admonition":
            titles = [child for child in node.children if child.type == "admonition_title"]
            title = self._text(titles[0]).strip() if titles else ""
            return title or str(node.meta.get("tag", "")).capitalize() or "Note"
        if node.type == "alert":
            return str(node.meta.get("kind", "note")).capitalize()
        return _docusaurus_label(node.info)

    def _labelled(self, label: str, children: Sequence[SyntaxTreeNode], *, title: bool) -> list[_Block]:
        """A callout flattened: ``**Label:** first paragraph``, then its other blocks at this level."""
        body = [child for child in children if not (title and child.type.endswith("_title"))]
        blocks = self.blocks(body)
        lead = f"**{label}:**"
        if blocks and blocks[0].paragraph:
            return [_Block(f"{lead} {blocks[0].text}", paragraph=True), *blocks[1:]]
        return [_Block(lead, paragraph=True), *blocks]

    def _definitions(self, node: SyntaxTreeNode) -> list[_Block]:
        out: list[_Block] = []
        term = ""
        for child in node.children:
            if child.type == "dt":
                term = " ".join(self._text(child).split())
            elif child.type == "dd":
                blocks = self.blocks(child.children)
                lead = f"**{term}**:"
                if len(blocks) == 1 and blocks[0].paragraph:  # a list item: quoted with the sentence before the list
                    out.append(_Block(f"- {lead} {blocks[0].text}", paragraph=False))
                elif blocks and blocks[0].paragraph:
                    out += [_Block(f"{lead} {blocks[0].text}", paragraph=True), *blocks[1:]]
                else:
                    out += [_Block(lead, paragraph=True), *blocks]
        return out

    def _list(self, node: SyntaxTreeNode) -> str:
        ordered = node.type == "ordered_list"
        number = int(node.attrs.get("start", 1)) if ordered else 0
        items = [child for child in node.children if child.type == "list_item"]
        tight = all(c.hidden for item in items for c in item.children if c.type == "paragraph")
        rendered: list[str] = []
        for offset, item in enumerate(items):
            marker = f"{number + offset}. " if ordered else "- "
            checked = item.meta.get("checked")
            task = "" if checked is None else ("[x] " if checked else "[ ] ")
            body = ("\n" if tight else "\n\n").join(block.text for block in self.blocks(item.children))
            rendered.append(_list_item(marker, task, body))
        return ("\n" if tight else "\n\n").join(rendered)

    def _table(self, node: SyntaxTreeNode) -> str:
        rows = [row for section in node.children for row in section.children if row.type == "tr"]
        if not rows:
            return ""
        lines: list[str] = []
        for index, row in enumerate(rows):
            cells = [" ".join(self._text(cell).split()).replace("|", "\\|") for cell in row.children]
            lines.append("| " + " | ".join(cells) + " |")
            if index == 0:
                rule = [_ALIGNMENT.get(str(cell.attrs.get("style", "")), "---") for cell in row.children]
                lines.append("| " + " | ".join(rule) + " |")
        return "\n".join(lines)

    def _html(self, html: str) -> list[_Block]:
        text = textwrap.dedent(html_block_text(html))
        if self._depth >= _MAX_HTML_DEPTH:
            return [_Block(" ".join(part.split()), paragraph=True) for part in text.split("\n\n")]
        rendered = _render(text, mdx=self._mdx, depth=self._depth + 1)
        # Re-split on blank lines outside fences is not needed: the blocks are used as one run of text.
        return [_Block(rendered.rstrip("\n"))] if rendered.strip() else []


def fence(content: str, language: str) -> str:
    """A fenced code block around ``content``, kept byte for byte, with a fence no line inside can close."""
    ticks = "`" * max(3, longest_backtick_run(content) + 1)
    body = content if not content or content.endswith("\n") else content + "\n"
    return f"{ticks}{language}\n{body}{ticks}"


def _language(info: str) -> str:
    """The language word of a fence's info string: ``python hl_lines="2"`` and ``{.python .annotate}`` → python."""
    words = info.strip().split()
    if not words:
        return ""
    first = words[0]
    if first.startswith("{"):
        classes = (word.strip("{}") for word in words)
        return next((word[1:] for word in classes if word.startswith(".") and len(word) > 1), "")
    language = first.split("{", 1)[0].split(",", 1)[0]  # Docusaurus ``js{1,3}``
    return "" if "=" in language or "`" in language else language


def _docusaurus_label(info: str) -> str:
    """``note[Title]`` / ``tip Title`` / ``{warning}`` → the title, else the type capitalised."""
    params = info.strip()
    kind_end = next((i for i, char in enumerate(params) if not (char.isalnum() or char in "{}-_")), len(params))
    kind = params[:kind_end].strip("{}")
    rest = params[kind_end:].strip()
    if rest.startswith("[") and rest.endswith("]"):
        rest = rest[1:-1].strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
        rest = rest[1:-1].strip()
    return rest or kind.capitalize()


def _list_item(marker: str, task: str, body: str) -> str:
    """One list item: its first line after the marker, the rest indented by the marker's width."""
    indent = " " * len(marker)
    lines = body.split("\n")
    first = f"{marker}{task}{lines[0]}".rstrip()
    return "\n".join([first, *(f"{indent}{line}" if line else "" for line in lines[1:])])
