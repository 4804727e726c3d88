"""The Markdown parsers: CommonMark plus the syntax documentation sites (MkDocs, Docusaurus, GitHub) add on top.

Each site feature becomes tokens (admonitions, tabs, alerts) or is consumed without any (MDX ``import``s,
snippet includes, ``[TOC]``, abbreviations, attribute lists), so the renderer only ever sees document content.
Built once at import: constructing a parser costs far more than parsing a typical page.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin

DOCUSAURUS_CONTAINER = "docusaurus"
"""The name of the ``:::type`` container; its tokens are ``container_docusaurus_open``/``_close``."""

_TAB = re.compile(r'===[!+]?[ \t]+"(?P<label>[^"]*)"[ \t]*$')
_ESM = re.compile(r"(?:import|export)[ \t]")
# Outside MDX files a paragraph starting "import the module…" is prose: only statement-shaped lines are dropped.
_ESM_STATEMENT = re.compile(
    r"import[ \t]+['\"]|import[ \t].*[ \t]from[ \t]*['\"]|export[ \t]+(?:const|let|var|function|default|class|async)\b"
)
_ABBREVIATION = re.compile(r"\*\[[^\]]+\]:")
_SNIPPET = re.compile(r"-{1,3}8<-{1,3}(?:[ \t]+['\"][^'\"]*['\"])?[ \t]*$")
_SNIPPET_BLOCK_LINES = 100  # how far a bare ``--8<--`` looks for its closing line, so scanning stays linear
_ATTR_LIST_MAX = 256
_MAX_NESTING = 32


def is_attr_list(body: str) -> bool:
    """Whether ``body`` (the text between ``{`` and ``}``) is an attribute list or an MDX comment."""
    if body.startswith(":") or (body.startswith("/*") and body.endswith("*/")):
        return True
    words = body.split()
    return bool(words) and all(_is_attribute(word) for word in words)


def _is_attribute(word: str) -> bool:
    if word[0] in "#." and len(word) > 1:
        return True
    key, equals, _ = word.partition("=")
    return bool(equals) and key.replace("-", "_").isidentifier()


def _attr_list_inline(state: StateInline, silent: bool) -> bool:
    """``{: .class }``, ``{ #id }`` and MDX ``{/* comments */}`` inside text: consumed, leaving nothing."""
    src, start = state.src, state.pos
    if src[start] != "{":
        return False
    close = src.find("}", start, min(state.posMax, start + _ATTR_LIST_MAX))
    if close < 0:
        return False
    body = src[start + 1 : close].strip()
    if "{" in body or "\n" in body or not is_attr_list(body):
        return False
    if not silent:
        state.push("attr_list", "", 0)  # a token, so the text either side stays apart and its spaces can merge
    state.pos = close + 1
    return True


def _line(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]


def _dropped_lines(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Lines that are instructions to a site generator, not content: ``[TOC]``, snippets, abbreviations, attrs."""
    if state.is_code_block(start_line):
        return False
    text = _line(state, start_line).rstrip()
    if not text or text[0] not in "[-*{":
        return False
    if text == "--8<--":  # a block of snippet paths, closed by another such line
        last = min(end_line, start_line + _SNIPPET_BLOCK_LINES)
        close = next((i for i in range(start_line + 1, last) if _line(state, i).rstrip() == "--8<--"), start_line)
        if not silent:
            state.line = close + 1
        return True
    dropped = (
        text == "[TOC]"
        or _SNIPPET.match(text) is not None
        or _ABBREVIATION.match(text) is not None
        or (text[0] == "{" and text[-1] == "}" and is_attr_list(text[1:-1].strip()))
    )
    if dropped and not silent:
        state.line = start_line + 1
    return dropped


def _mdx_esm(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """MDX ``import``/``export`` statements at the top level: code for the site's build, dropped up to a blank line."""
    if state.level > 0 or state.sCount[start_line] != 0 or state.blkIndent != 0:
        return False
    text = _line(state, start_line)
    if _ESM.match(text) is None:
        return False
    if not state.env.get("mdx") and _ESM_STATEMENT.match(text) is None:
        return False
    if not silent:
        line = start_line + 1
        while line < end_line and not state.isEmpty(line):
            line += 1
        state.line = line
    return True


def _content_tab(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """MkDocs Material ``=== "Label"`` with an indented body, as ``tab_open``/``tab_close`` around the body."""
    if state.is_code_block(start_line):
        return False
    match = _TAB.match(_line(state, start_line))
    if match is None:
        return False
    if silent:
        return True
    indent = state.sCount[start_line] + 4
    next_line = start_line + 1
    while next_line < end_line:
        if not state.isEmpty(next_line) and state.sCount[next_line] < indent:
            break
        next_line += 1

    old_parent, old_line_max, old_indent = state.parentType, state.lineMax, state.blkIndent
    state.parentType = "tab"  # a container of our own, like the plugins' ones
    state.lineMax = next_line  # lazy continuation lines must not run past the tab's end
    state.blkIndent = indent
    token = state.push("tab_open", "div", 1)
    token.block = True
    token.meta = {"label": match["label"]}
    token.map = [start_line, next_line]
    state.md.block.tokenize(state, start_line + 1, next_line)
    token = state.push("tab_close", "div", -1)
    token.block = True
    state.parentType, state.lineMax, state.blkIndent = old_parent, old_line_max, old_indent
    state.line = next_line
    return True


def _docusaurus_params(params: str, *_: object) -> bool:
    """``:::note``, ``:::tip[Title]``, ``:::warning Title``: a container whose parameters start with a word."""
    stripped = params.strip().lstrip("{")
    return bool(stripped) and stripped[0].isalpha()


def _build(*, mdx: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "alerts": True, "tasklists": True, "maxNesting": _MAX_NESTING}).enable(
        ["table", "strikethrough"]
    )
    if mdx:
        md.disable("code")  # MDX has no indented code: indentation there is JSX layout
    # URLs stay as written (no percent-encoding, no punycode): relative links are resolved later by path.
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    md.normalizeLinkText = lambda link: link  # type: ignore[method-assign]
    md.use(admon_plugin).use(deflist_plugin).use(footnote_plugin)
    md.use(container_plugin, name=DOCUSAURUS_CONTAINER, validate=_docusaurus_params)
    md.block.ruler.before(
        "fence", "content_tab", _content_tab, {"alt": ["paragraph", "reference", "blockquote", "list"]}
    )
    md.block.ruler.before("paragraph", "dropped_lines", _dropped_lines, {"alt": ["paragraph"]})
    md.block.ruler.before("paragraph", "mdx_esm", _mdx_esm)
    md.inline.ruler.push("attr_list", _attr_list_inline)
    md.inline.add_terminator_char("{")
    return md


MARKDOWN = _build(mdx=False)
MDX = _build(mdx=True)
