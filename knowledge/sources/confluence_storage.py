"""Confluence's storage format as a document: its own elements turned into the HTML they stand for, then read by the
HTML loader that ``threadwise ingest`` uses, so a page comes out as Markdown like any web page.

The storage format is what Confluence's editor saves: XHTML for text, headings, lists and tables, plus elements of
its own (``ac:`` macros and ``ri:`` resource references). The HTML loader would take those for unknown inline tags
and lose what matters most (a code macro's body is a CDATA section, which an HTML parser reads as a comment), so each
is first rewritten:

- ``code`` and ``noformat`` macros (and any other macro with a plain-text body): ``<pre><code class="language-…">``,
  which comes out as fenced code, led by the macro's title when it has one;
- ``info``, ``note``, ``warning`` and ``tip`` panels: their body, led by the panel's kind ("Warning: …") so that the
  caution survives as text; ``panel`` and ``expand``: their title, then their body;
- any other macro with a rich-text body (sections, columns, excerpts): its body; one without a body (a table of
  contents, a page tree, a Jira filter): nothing, since what it shows is not in the page;
- links: their text, else the title of the page or the name of the file they point to; task lists: lists; layouts:
  blocks; images, emoticons and editor placeholders: nothing.
"""

from __future__ import annotations

import html
import re

from bs4 import BeautifulSoup
from bs4.element import Tag

from knowledge.documents import SourceDocument
from knowledge.loaders.html import for_html_parser, load_html

_CDATA_OPEN, _CDATA_CLOSE = "<![CDATA[", "]]>"
_MACROS = ("ac:structured-macro", "ac:macro")
_PANEL_KINDS = {"info": "Info", "note": "Note", "warning": "Warning", "tip": "Tip"}
_TITLED = frozenset({*_PANEL_KINDS, "panel", "expand"})
_DROPPED = ("ac:image", "ac:emoticon", "ac:placeholder", "ac:parameter", "ac:task-id", "ac:task-uuid", "ac:task-status")
_BLOCKS = frozenset({"ac:layout", "ac:layout-section", "ac:layout-cell", "ac:adf-extension", "ac:adf-node"})


def _cdata_escaped(storage: str) -> str:
    """Each CDATA section replaced by its text, escaped (code macros hold their code so). A section ends at the
    first "]]>" (Confluence splits a body holding one into several adjacent sections). Found with ``str.find``:
    one pass, whatever a body holds (a lazy pattern rescans to the end from each unclosed opening)."""
    out: list[str] = []
    done = 0
    while (start := storage.find(_CDATA_OPEN, done)) != -1:
        end = storage.find(_CDATA_CLOSE, start + len(_CDATA_OPEN))
        if end == -1:  # never closed: the rest is text (the HTML parser would rescan each unclosed opening)
            out += [storage[done:start], html.escape(storage[start:], quote=False)]
            return "".join(out)
        out += [storage[done:start], html.escape(storage[start + len(_CDATA_OPEN) : end], quote=False)]
        done = end + len(_CDATA_CLOSE)
    out.append(storage[done:])
    return "".join(out)


def storage_document(storage: str, *, url: str, title: str) -> SourceDocument:
    """A page's storage-format body as a document titled ``title``, its source URI ``url``."""
    soup = BeautifulSoup(for_html_parser(_cdata_escaped(storage)), "html.parser")
    _rewrite_macros(soup)
    _rewrite_links(soup)
    _rewrite_tasks(soup)
    _rewrite_adf(soup)
    for element in soup.find_all(_DROPPED):
        element.decompose()
    for element in soup.find_all(re.compile(r"^(ac|ri):")):
        if element.name in _BLOCKS:
            element.name = "div"
        else:
            element.unwrap()  # inline markers (comments anchored in the text): their text stays
    page = f"<html><head><title>{html.escape(title)}</title></head><body>{soup}</body></html>"
    return load_html(page.encode(), source_uri=url, fallback_title=title, charset="utf-8")


def _rewrite_macros(soup: BeautifulSoup) -> None:
    # Innermost first: a code block inside a panel is already <pre> when the panel is rewritten.
    for macro in reversed(soup.find_all(_MACROS)):
        name = str(macro.get("ac:name", "")).lower()
        parameters = {
            str(parameter.get("ac:name", "")).lower(): parameter.get_text(" ", strip=True)
            for parameter in macro.find_all("ac:parameter", recursive=False)
        }
        plain = macro.find("ac:plain-text-body", recursive=False)
        rich = macro.find("ac:rich-text-body", recursive=False)
        replacement = soup.new_tag("div")
        title = parameters.get("title", "") if name in _TITLED or plain is not None else ""
        if plain is not None:
            if title:
                replacement.append(_paragraph(soup, title))
            replacement.append(_code_block(soup, plain.get_text(), parameters.get("language", "")))
        elif rich is not None:
            label = _PANEL_KINDS.get(name, "")
            heading = f"{label}: {title}" if label and title else title or label
            first = rich.find(True, recursive=False)
            if label and not title and isinstance(first, Tag) and first.name == "p":
                first.insert(0, f"{label}: ")  # "Warning: never deploy on Fridays."
            elif heading:
                replacement.append(_paragraph(soup, heading))
            replacement.extend(list(rich.contents))
        macro.replace_with(replacement)


def _rewrite_links(soup: BeautifulSoup) -> None:
    for link in soup.find_all("ac:link"):
        body = link.find(["ac:link-body", "ac:plain-text-link-body"])
        text = body.get_text() if isinstance(body, Tag) else ""
        if not text.strip():
            target = link.find(re.compile(r"^ri:"))
            text = next(
                (
                    str(target.get(attribute))
                    for attribute in ("ri:content-title", "ri:filename", "ri:value", "ri:space-key")
                    if isinstance(target, Tag) and target.get(attribute)
                ),
                "",
            )
        link.replace_with(text)


def _rewrite_tasks(soup: BeautifulSoup) -> None:
    for task_list in soup.find_all("ac:task-list"):
        task_list.name = "ul"
    for task in soup.find_all("ac:task"):
        task.name = "li"
        for body in task.find_all("ac:task-body"):
            body.unwrap()


def _rewrite_adf(soup: BeautifulSoup) -> None:
    """Newer editor content kept as ``ac:adf-extension``: its HTML fallback when it has one, else its content."""
    for extension in reversed(soup.find_all("ac:adf-extension")):
        fallback = extension.find("ac:adf-fallback")
        if isinstance(fallback, Tag):
            for node in extension.find_all("ac:adf-node", recursive=False):
                node.decompose()
            fallback.name = "div"
    for attribute in soup.find_all("ac:adf-attribute"):
        attribute.decompose()


def _paragraph(soup: BeautifulSoup, text: str) -> Tag:
    paragraph = soup.new_tag("p")
    paragraph.string = text
    return paragraph


def _code_block(soup: BeautifulSoup, code: str, language: str) -> Tag:
    pre = soup.new_tag("pre")
    inner = soup.new_tag("code")
    language = re.sub(r"[^\w+#.-]", "", language.lower())
    if language:
        inner["class"] = f"language-{language}"
    inner.string = code
    pre.append(inner)
    return pre
