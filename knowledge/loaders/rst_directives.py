"""Sphinx's directives for plain docutils, each reduced to the ordinary doctree nodes the Markdown writer knows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.parsers.rst.directives.misc import Class
from docutils.statemachine import StringList


class AnyOptions(dict[str, Callable[[str], Any]]):
    """An option spec that accepts every option (``:emphasize-lines:``, ``:members:``…) as a string.

    docutils skips option parsing when the spec is empty, so it holds one entry.
    """

    def __missing__(self, key: str) -> Callable[[str], Any]:
        return directives.unchanged


ANY_OPTIONS = AnyOptions(name=directives.unchanged)


class highlight_marker(nodes.Invisible, nodes.Element):  # lowercase, as docutils names node classes
    """Where ``.. highlight:: lang`` sets the language of the ``::`` blocks that follow."""


class _Lenient(Directive):
    """Any arguments, any options, any content: a directive that cannot fail on its input."""

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec: ClassVar[dict[str, Callable[[str], Any]] | None] = ANY_OPTIONS

    def parse_content(self, lines: StringList | None = None, offset: int | None = None) -> list[nodes.Node]:
        holder = nodes.Element()
        block = self.content if lines is None else lines
        self.state.nested_parse(block, self.content_offset if offset is None else offset, holder)
        return list(holder.children)

    def inline(self, text: str) -> list[nodes.Node]:
        found, _messages = self.state.inline_text(text, self.lineno)
        return list(found)


class Dropped(_Lenient):
    """Navigation, API autodoc and file inclusion: nothing to read, and nothing read from disk."""

    def run(self) -> list[nodes.Node]:
        return []


class BodyOnly(_Lenient):
    """``only``, ``tabs`` and directives we do not know: the argument goes, the content stays as body."""

    def run(self) -> list[nodes.Node]:
        return self.parse_content()


def dedented(lines: Iterable[str]) -> str:
    """The lines joined, less the indentation they share (blank lines kept, and not counted)."""
    kept = list(lines)
    widths = [len(line) - len(line.lstrip(" ")) for line in kept if line.strip()]
    cut = min(widths, default=0)
    return "\n".join(line[cut:] for line in kept)


def code_node(lines: Iterable[str], language: str) -> nodes.literal_block:
    code = dedented(lines)
    node = nodes.literal_block(code, code)
    node["language"] = language
    return node


class CodeBlock(_Lenient):
    """``code-block``/``sourcecode``/``code``: the content verbatim; options (captions, line numbers) are dropped."""

    language = ""

    def run(self) -> list[nodes.Node]:
        language = self.arguments[0].split()[0] if self.arguments and self.arguments[0].split() else self.language
        return [code_node(self.content, language)]


class PyconBlock(CodeBlock):
    language = "pycon"


class PythonBlock(CodeBlock):
    language = "python"


class TextBlock(CodeBlock):
    language = "text"


class Highlight(_Lenient):
    def run(self) -> list[nodes.Node]:
        language = self.arguments[0].split()[0] if self.arguments and self.arguments[0].split() else ""
        return [highlight_marker(language="" if language == "none" else language)]


class Tab(_Lenient):
    """A tab of sphinx-tabs or sphinx-inline-tabs: its label in bold, then its content."""

    def run(self) -> list[nodes.Node]:
        label = self.arguments[0].strip() if self.arguments else ""
        lead: list[nodes.Node] = [nodes.paragraph("", "", nodes.strong(label, label))] if label else []
        return lead + self.parse_content()


class CodeTab(_Lenient):
    """``.. code-tab:: lang [label]``: the label in bold, then the content as code."""

    def run(self) -> list[nodes.Node]:
        words = self.arguments[0].split(None, 1) if self.arguments else []
        language = words[0] if words else ""
        label = words[1].strip() if len(words) > 1 else language
        lead: list[nodes.Node] = [nodes.paragraph("", "", nodes.strong(label, label))] if label else []
        return [*lead, code_node(self.content, language)]


_VERSION_LABELS = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "versionremoved": "Removed in version",
}


class VersionNote(_Lenient):
    """``.. versionadded:: 2.0 text`` → a paragraph led by *New in version 2.0:*, then the rest of the content."""

    def run(self) -> list[nodes.Node]:
        version, text = [*(self.arguments[0] if self.arguments else "").split(None, 1), "", ""][:2]
        body = self.parse_content()
        lead_words = self.inline(text.strip()) if text.strip() else []
        if not lead_words and body and isinstance(body[0], nodes.paragraph):
            lead_words = list(body.pop(0).children)
        label = f"{_VERSION_LABELS[self.name.lower().rsplit(':', 1)[-1]]} {version}".strip()
        if not lead_words:
            return [nodes.paragraph("", "", nodes.emphasis("", label + ".")), *body]
        return [nodes.paragraph("", "", nodes.emphasis("", label + ":"), nodes.Text(" "), *lead_words), *body]


class PyObject(_Lenient):
    """An object description (``function``, ``class``, ``py:data``…): each signature as code, then the content."""

    def run(self) -> list[nodes.Node]:
        signatures = [line.strip() for line in (self.arguments[0] if self.arguments else "").split("\n")]
        lead: list[nodes.Node] = [
            nodes.paragraph("", "", nodes.literal(signature, signature)) for signature in signatures if signature
        ]
        return lead + self.parse_content()


class SeeAlso(_Lenient):
    """``seealso``: an admonition titled "See also", its argument (the short form) as the first paragraph."""

    def run(self) -> list[nodes.Node]:
        node = nodes.admonition(classes=["seealso"])
        node += nodes.title("See also", "See also")
        if self.arguments and self.arguments[0].strip():
            node += nodes.paragraph("", "", *self.inline(self.arguments[0].strip()))
        node.extend(self.parse_content())
        return [node]


class Glossary(_Lenient):
    """Unindented lines are terms (several may share a definition); the indented lines after them define them."""

    def run(self) -> list[nodes.Node]:
        glossary = nodes.definition_list(classes=["glossary"])
        terms: list[str] = []
        i, lines = 0, self.content
        while i < len(lines):
            line = lines[i]
            if line.strip() and not line[0].isspace():
                terms.append(line.strip())
                i += 1
                continue
            start = i
            while i < len(lines) and (not lines[i].strip() or lines[i][0].isspace()):
                i += 1
            block = StringList(dedented(lines[start:i]).split("\n"), source="glossary")
            if terms:
                glossary += self._entry(terms, block, self.content_offset + start)
            terms = []
        if terms:
            glossary += self._entry(terms, StringList(), self.content_offset + i)
        return [glossary]

    def _entry(self, terms: list[str], block: StringList, offset: int) -> nodes.definition_list_item:
        term = nodes.term()
        for n, text in enumerate(terms):
            if n:
                term += nodes.Text(", ")
            term.extend(self.inline(text))
        definition = nodes.definition("", *self.parse_content(block, offset))
        return nodes.definition_list_item("", term, definition)


_CODE: dict[str, type[Directive]] = {"code-block": CodeBlock, "sourcecode": CodeBlock, "code": CodeBlock}
_CODE |= {"doctest": PyconBlock, "testcode": PythonBlock, "testoutput": TextBlock, "code-tab": CodeTab}
_DROPPED = [
    *("literalinclude", "include", "raw", "toctree", "index", "contents", "tabularcolumns"),
    *("autosummary", "automodule", "autoclass", "autofunction", "automethod", "autodata", "autoexception"),
    *("autoattribute", "autoproperty", "autodecorator", "currentmodule", "module", "py:module", "py:currentmodule"),
    *("testsetup", "testcleanup", "sectionauthor", "moduleauthor", "codeauthor"),
]
_BODY = ["only", "tabs", "ifconfig", "hlist", "centered"]
_TABS = ["tab", "group-tab"]
_PY_OBJECTS = ["function", "class", "method", "classmethod", "staticmethod", "attribute", "property", "data"]
_PY_OBJECTS += ["exception", "decorator", "decoratormethod"]
_OBJECTS = [*_PY_OBJECTS, *(f"py:{name}" for name in _PY_OBJECTS)]
_OBJECTS += ["envvar", "option", "cmdoption", "describe", "object", "confval"]


def register_sphinx_directives() -> None:
    """Teach docutils Sphinx's directives; called once at import (fixed names, so the registry stays bounded)."""
    table: dict[str, type[Directive]] = dict(_CODE)
    table |= dict.fromkeys(_DROPPED, Dropped) | dict.fromkeys(_BODY, BodyOnly) | dict.fromkeys(_TABS, Tab)
    table |= dict.fromkeys(_OBJECTS, PyObject) | dict.fromkeys(_VERSION_LABELS, VersionNote)
    table |= {"highlight": Highlight, "seealso": SeeAlso, "glossary": Glossary, "rst-class": Class}
    for name, directive in table.items():
        directives.register_directive(name, directive)


def register_generic_directives(names: Iterable[str]) -> None:
    """Directives only a Sphinx extension knows keep their content as ordinary body."""
    for name in names:
        directives.register_directive(name, BodyOnly)


register_sphinx_directives()
