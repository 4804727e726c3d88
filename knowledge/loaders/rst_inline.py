"""Inline doctree nodes to Markdown text: code spans, emphasis, links; references and markup noise dropped."""

from __future__ import annotations

import re

from docutils import nodes

from knowledge.loaders.markdown_inline import code_span as markdown_code_span

# Inline nodes that carry nothing a reader of the text needs.
_DROPPED = (
    nodes.system_message,
    nodes.comment,
    nodes.raw,
    nodes.image,
    nodes.substitution_definition,
)
# A dropped footnote or citation reference leaves this mark, so the space before it can go too.
_GAP = "\x00"
_LINK_SCHEMES = ("http://", "https://", "mailto:", "ftp://")
# Markup that docutils could not resolve or parse: keep the words, lose the punctuation.
_PROBLEM_REFERENCE = re.compile(r"^`(?P<text>.*)`__?$|^\|(?P<sub>.+)\|_{0,2}$|^(?P<word>\w[\w.-]*)__?$", re.DOTALL)
_DANGLING_ROLE = re.compile(r":[\w.:+-]+:$")
_PROBLEM_ROLE = re.compile(r"^:[\w.:+-]+:`(?P<a>.*)`$|^`(?P<b>.*)`:[\w.:+-]+:$", re.DOTALL)


def one_line(text: str) -> str:
    """Hard-wrapped source lines become one line: a newline and the spaces around it turn into one space."""
    return re.sub(r"[ \t]*\n[ \t]*", " ", text)


def code_span(text: str) -> str:
    """``text`` on one line as a Markdown code span (the Markdown loader's rules); nothing for no text."""
    text = one_line(text)
    return markdown_code_span(text) if text else ""


def _wrapped(marker: str, inner: str) -> str:
    # Markdown emphasis cannot open or close on a space, so the spaces move outside the markers.
    stripped = inner.strip()
    if not stripped:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{marker}{stripped}{marker}{trail}"


def _link(node: nodes.reference, text: str) -> str:
    uri = str(node.get("refuri", ""))
    if not uri.startswith(_LINK_SCHEMES) or not text.strip():
        return text
    if text.strip() in (uri, uri.removeprefix("mailto:")):
        return text
    # Parentheses and spaces would end a Markdown link destination early.
    uri = uri.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"[{text}]({uri})"


def _problematic(node: nodes.problematic) -> str:
    raw = node.astext()
    reference = _PROBLEM_REFERENCE.match(raw)
    if reference:
        return reference["text"] or reference["sub"] or reference["word"] or ""
    role = _PROBLEM_ROLE.match(raw)
    if role:
        return code_span(role["a"] if role["a"] is not None else role["b"])
    return one_line(raw)


def _children_text(node: nodes.Element) -> list[str]:
    parts = []
    for i, child in enumerate(node.children):
        text = render_inline(child)
        following = node.children[i + 1] if i + 1 < len(node.children) else None
        if isinstance(child, nodes.Text) and isinstance(following, nodes.problematic):
            # ``:role:`text`` never closed: the role's name goes with the markup docutils rejected
            text = _DANGLING_ROLE.sub("", text)
        parts.append(text)
    return parts


def inline_text(node: nodes.Node) -> str:
    """One line of Markdown for ``node``'s inline content, trimmed."""
    return re.sub(rf"[ \t]*{_GAP}", "", render_inline(node)).strip()


def render_inline(node: nodes.Node) -> str:
    """Markdown for an inline node and what it holds; newlines inside become spaces."""
    if isinstance(node, nodes.Text):
        return one_line(node.astext())
    if isinstance(node, nodes.footnote_reference | nodes.citation_reference):
        return _GAP
    if isinstance(node, _DROPPED) or not isinstance(node, nodes.Element):
        return ""
    if isinstance(node, nodes.problematic):
        return _problematic(node)
    if isinstance(node, nodes.literal | nodes.title_reference | nodes.math):
        return code_span(node.astext())
    inner = "".join(_children_text(node))
    if isinstance(node, nodes.emphasis):
        return _wrapped("*", inner)
    if isinstance(node, nodes.strong):
        return _wrapped("**", inner)
    if isinstance(node, nodes.reference):
        return _link(node, inner)
    return inner  # inline, subscript, abbreviation, target and the like: their words
