"""A docutils doctree to normalised Markdown: ATX headings, one line per paragraph, fenced code, pipe tables.

Each ``visit_*`` method appends whole Markdown blocks to ``self.out`` and skips the node's children, which it
renders itself; a container captures its children's blocks to indent or prefix them.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes

from knowledge.loaders.markdown_render import fence
from knowledge.loaders.rst_directives import highlight_marker
from knowledge.loaders.rst_inline import code_span, inline_text
from knowledge.loaders.rst_tables import children, render_table
from knowledge.loaders.rst_titles import title_at

_MAX_HEADING = 6
# Nodes with no text for a reader: link targets, definitions, comments, docutils' own bookkeeping.
_SKIPPED = (
    nodes.comment,
    nodes.target,
    nodes.substitution_definition,
    nodes.raw,
    nodes.pending,
    nodes.meta,
    nodes.decoration,
    nodes.docinfo,
    nodes.image,
    nodes.transition,
    nodes.label,
    nodes.colspec,
)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


class MarkdownWriter(nodes.NodeVisitor):
    """Walks a doctree once; ``markdown()`` returns the text and ``titles`` the section titles in order."""

    def __init__(self, document: nodes.document) -> None:
        super().__init__(document)
        self.out: list[str] = []
        self.titles: list[str] = []
        self.level = 0
        self.language = ""  # set by ``.. highlight::`` for the ``::`` blocks after it

    def markdown(self) -> str:
        self.out = self.capture(self.document)
        return "\n\n".join(self.out) + "\n" if self.out else ""

    # --- plumbing ------------------------------------------------------------------------------------------

    def capture(self, node: nodes.Node, *, skip: nodes.Node | None = None) -> list[str]:
        """The blocks of ``node``'s children (but ``skip``), rendered apart from the blocks written so far."""
        saved, self.out = self.out, []
        for child in node.children if isinstance(node, nodes.Element) else []:
            if child is not skip:
                child.walkabout(self)
        captured, self.out = self.out, saved
        return captured

    def add(self, block: str) -> None:
        if block.strip():
            self.out.append(block)

    def dispatch_visit(self, node: nodes.Node) -> Any:
        if isinstance(node, _SKIPPED):
            raise nodes.SkipNode
        if isinstance(node, nodes.Admonition) and isinstance(node, nodes.Element):
            self.admonition(node)
        return super().dispatch_visit(node)

    def unknown_visit(self, node: nodes.Node) -> None:
        # Containers we have no rule for (compound, container, legend, footnote, desc…) keep their blocks;
        # a bare inline node at block level becomes a paragraph.
        if isinstance(node, nodes.Inline | nodes.Text):
            self.add(inline_text(node))
        else:
            self.out.extend(self.capture(node))
        raise nodes.SkipNode

    def unknown_departure(self, node: nodes.Node) -> None:
        return None

    # --- structure -----------------------------------------------------------------------------------------

    def visit_section(self, node: nodes.section) -> None:
        self.level += 1
        self.out.extend(self.capture(node))
        self.level -= 1
        raise nodes.SkipNode

    def visit_title(self, node: nodes.title) -> None:
        text = inline_text(node)
        if isinstance(node.parent, nodes.section) and text:
            self.titles.append(node.astext().strip())
            self.add("#" * min(max(self.level, 1), _MAX_HEADING) + " " + text)
        elif text:
            self.add(f"**{text}**")
        raise nodes.SkipNode

    def visit_paragraph(self, node: nodes.paragraph) -> None:
        self.add(inline_text(node))
        raise nodes.SkipNode

    def visit_caption(self, node: nodes.caption) -> None:
        self.add(inline_text(node))
        raise nodes.SkipNode

    def visit_rubric(self, node: nodes.Element) -> None:
        text = inline_text(node)
        self.add(f"**{text}**" if text else "")
        raise nodes.SkipNode

    visit_subtitle = visit_rubric

    def visit_topic(self, node: nodes.topic) -> None:
        if "contents" not in node["classes"]:  # a table of contents only repeats the headings
            self.out.extend(self.capture(node))
        raise nodes.SkipNode

    def visit_system_message(self, node: nodes.system_message) -> None:
        # docutils keeps a title it could not place (a level jump, a title inside a directive) only inside its
        # error message; the words are the author's, so they stay, as a heading or a bold line.
        source = next(node.findall(nodes.literal_block), None)
        found = title_at(source.astext().split("\n"), 0) if source is not None else None
        if found is not None:
            title = found[0]
            # docutils ≥ 0.22 says "Inconsistent title style", older ones "Title level inconsistent".
            if "nconsistent" in node.astext():
                self.titles.append(title)
                self.add("#" * min(self.level + 1, _MAX_HEADING) + " " + title)
            else:
                self.add(f"**{title}**")
        raise nodes.SkipNode

    def visit_highlight_marker(self, node: highlight_marker) -> None:
        self.language = str(node.get("language", ""))
        raise nodes.SkipNode

    # --- code ----------------------------------------------------------------------------------------------

    def visit_literal_block(self, node: nodes.literal_block) -> None:
        language = node.get("language")
        if language is None:
            classes = [name for name in node["classes"] if name != "code"]
            language = classes[0] if "code" in node["classes"] and classes else self.language
        if node.astext().strip():  # an empty block (a directive whose content failed to parse) says nothing
            self.add(fence(node.astext(), str(language)))
        raise nodes.SkipNode

    def visit_doctest_block(self, node: nodes.doctest_block) -> None:
        self.add(fence(node.astext(), "pycon"))
        raise nodes.SkipNode

    def visit_math_block(self, node: nodes.math_block) -> None:
        self.add(fence(node.astext(), "math"))
        raise nodes.SkipNode

    # --- lists ---------------------------------------------------------------------------------------------

    def _items(self, node: nodes.Element, markers: list[str]) -> None:
        items = []
        for marker, item in zip(markers, children(node, nodes.list_item), strict=False):
            body = "\n\n".join(self.capture(item))
            items.append(marker + _indent(body, " " * len(marker))[len(marker) :] if body else marker.rstrip())
        self.add("\n".join(items))
        raise nodes.SkipNode

    def visit_bullet_list(self, node: nodes.bullet_list) -> None:
        self._items(node, ["- "] * len(node.children))

    def visit_enumerated_list(self, node: nodes.enumerated_list) -> None:
        start = int(node.get("start", 1))
        self._items(node, [f"{start + n}. " for n in range(len(node.children))])

    def _term_and_body(self, term: str, body: list[str]) -> None:
        """``- **term**: definition`` for a one-paragraph definition (a list item, so the sentence introducing
        the list is quoted with it); otherwise ``**term**: first paragraph`` and its other blocks after it."""
        lead = f"**{term}**:" if term else ""
        if body and "\n" not in body[0] and not body[0].startswith(("```", "- ", "|", "> ", "#")):
            lead = f"{lead} {body.pop(0)}".strip()
        self.add(f"- {lead}" if lead and not body else lead)
        self.out.extend(body)

    def visit_definition_list_item(self, node: nodes.definition_list_item) -> None:
        term = " ".join(inline_text(child) for child in children(node, nodes.term))
        classifiers = [inline_text(child) for child in children(node, nodes.classifier)]
        term = f"{term} ({', '.join(classifiers)})" if classifiers and term else term
        body = [block for child in children(node, nodes.definition) for block in self.capture(child)]
        self._term_and_body(term.strip(), body)
        raise nodes.SkipNode

    def visit_field(self, node: nodes.field) -> None:
        name = " ".join(inline_text(child) for child in children(node, nodes.field_name))
        body = [block for child in children(node, nodes.field_body) for block in self.capture(child)]
        self._term_and_body(name.strip(), body)
        raise nodes.SkipNode

    def visit_option_list_item(self, node: nodes.option_list_item) -> None:
        options = []
        for option in node.findall(nodes.option):
            # an option_argument's text starts with its delimiter: ``-o FILE``, ``--output=FILE``
            options.append(code_span("".join(part.astext() for part in option.children)))
        body = [block for child in children(node, nodes.description) for block in self.capture(child)]
        lead = ", ".join(options) + ":"
        if body and "\n" not in body[0]:
            lead = f"{lead} {body.pop(0)}"
        self.add(lead)
        self.out.extend(body)
        raise nodes.SkipNode

    def visit_line_block(self, node: nodes.line_block) -> None:
        lines = [inline_text(line) for line in node.findall(nodes.line)]
        self.add("\n".join(lines).strip("\n"))
        raise nodes.SkipNode

    # --- quotes, admonitions, tables -----------------------------------------------------------------------

    def visit_block_quote(self, node: nodes.block_quote) -> None:
        blocks = self.capture(node)
        if blocks:
            self.add(_indent("\n\n".join(blocks), "> ").replace("\n\n", "\n>\n"))
        raise nodes.SkipNode

    def visit_attribution(self, node: nodes.attribution) -> None:
        self.add("— " + inline_text(node))
        raise nodes.SkipNode

    def admonition(self, node: nodes.Element) -> None:
        """``**Note:** first paragraph``; the admonition's other blocks follow at the top level."""
        title = next(iter(children(node, nodes.title)), None)
        label = inline_text(title) if title is not None else ""
        label = label or node.tagname.capitalize()
        body = self.capture(node, skip=title)
        first = body.pop(0) if body and not body[0].startswith(("```", "- ", "|", "> ", "#")) else ""
        self.add(f"**{label}:** {first}".strip())
        self.out.extend(body)
        raise nodes.SkipNode

    def visit_table(self, node: nodes.table) -> None:
        title = next(iter(children(node, nodes.title)), None)
        if title is not None:
            self.add(f"**{inline_text(title)}**")
        self.add(render_table(node, lambda entry: " ".join(self.capture(entry)).replace("\n", " ")))
        raise nodes.SkipNode

    def visit_figure(self, node: nodes.figure) -> None:
        self.out.extend(self.capture(node))  # the image goes; caption and legend stay
        raise nodes.SkipNode


def render_markdown(document: nodes.document) -> tuple[str, list[str]]:
    """The Markdown of ``document`` and its section titles in order."""
    writer = MarkdownWriter(document)
    text = writer.markdown()
    return text, writer.titles
