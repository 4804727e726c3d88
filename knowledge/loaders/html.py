"""HTML: the page's main content as Markdown, without the navigation, scripts and other chrome around it."""

from __future__ import annotations

import codecs
import re

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

from knowledge.documents import SourceDocument

# Page chrome and non-content: none of it answers a question about the page.
_DROPPED = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "iframe", "template")
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_LISTS = frozenset({"ul", "ol", "menu"})
_BLOCKS = frozenset(
    {
        *_HEADINGS,
        *_LISTS,
        *_DROPPED,
        "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "hgroup", "hr", "html", "li", "main", "p", "pre", "section",
        "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    }
)  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
# How far into the page a <meta charset> may appear (the HTML spec looks at the first 1024 bytes; be lenient).
_CHARSET_SNIFF_BYTES = 4096


def load_html(raw: bytes, *, source_uri: str, fallback_title: str, charset: str | None = None) -> SourceDocument:
    """An HTML page: ``<title>``, else the first ``<h1>``, else ``fallback_title``.

    ``charset`` (from an HTTP ``Content-Type``) wins over the page's own ``<meta charset>``, as in browsers.
    """
    soup = BeautifulSoup(for_html_parser(decode_html(raw, charset=charset)), "html.parser")
    title = _page_title(soup)
    root = _main_content(soup)
    _drop_chrome(root)
    if not title:
        first_h1 = root.find("h1")
        title = _clean_inline(_inline(first_h1)).replace("\n", " ") if isinstance(first_h1, Tag) else ""
    blocks: list[str] = []
    _render_blocks(root, blocks)
    text = "\n\n".join(blocks).replace("\0", "")
    return SourceDocument(source_uri=source_uri, title=title or fallback_title, text=text + "\n" if text else "")


def for_html_parser(markup: str) -> str:
    """``markup`` with every ``<`` after its last ``>`` written as ``&lt;``, which reads the same.

    Python's ``html.parser`` (before 3.12.11 and 3.13.4) takes quadratic time on markup that ends in many
    constructs it cannot close (``<a<a<a…``, ``</</…``, ``<?<?…``): at the end it looks for each one's ``>`` all the
    way to the end, then reads the ``<`` as text and tries again one character on. Measured here on 3.11: 80,000
    characters of ``<a`` took 3.5 s. No ``<`` after the last ``>`` can start a tag, so each is text anyway.
    """
    last = markup.rfind(">")
    tail = markup[last + 1 :]
    return markup if "<" not in tail else markup[: last + 1] + tail.replace("<", "&lt;")


def decode_html(raw: bytes, *, charset: str | None = None) -> str:
    """Bytes to text: a UTF-8 BOM, else ``charset``, else ``<meta charset>``, else UTF-8; bad bytes are replaced."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    declared = _META_CHARSET.search(raw[:_CHARSET_SNIFF_BYTES])
    for candidate in (charset, declared.group(1).decode("ascii") if declared else None):
        if candidate and _known_codec(candidate):
            return raw.decode(candidate, errors="replace")
    return raw.decode("utf-8", errors="replace")


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _page_title(soup: BeautifulSoup) -> str:
    # An inline <svg> may carry its own <title>; that one names a picture, not the page.
    for candidate in soup.find_all("title"):
        if candidate.find_parent("svg") is None:
            return " ".join(candidate.get_text(" ").split())
    return ""


def _main_content(soup: BeautifulSoup) -> Tag:
    for found in (soup.find("main"), soup.find("article"), soup.find(True, {"role": "main"}), soup.body):
        if isinstance(found, Tag):
            return found
    return soup


def _drop_chrome(root: Tag) -> None:
    in_content = root.name in {"main", "article"} or root.get("role") == "main"
    for element in root.find_all(_DROPPED):
        if element.decomposed:
            continue  # inside something already dropped
        # Within the main content, a <header> holding a heading is the article's own title block, not chrome.
        if in_content and element.name == "header" and element.find(list(_HEADINGS)) is not None:
            continue
        element.decompose()


def _render_blocks(node: Tag, out: list[str]) -> None:
    """Append ``node``'s children to ``out`` as Markdown blocks; loose inline content becomes paragraphs."""
    inline: list[str] = []

    def flush() -> None:
        paragraph = _clean_inline("".join(inline))
        inline.clear()
        if paragraph:
            out.append(paragraph)

    for child in node.children:
        if isinstance(child, PreformattedString):  # comments, doctypes, processing instructions
            continue
        if isinstance(child, NavigableString):
            inline.append(_WHITESPACE.sub(" ", str(child)))
        elif isinstance(child, Tag):
            if child.name not in _BLOCKS and child.find(_BLOCKS) is None:
                inline.append(_inline_tag(child))
                continue
            flush()
            _render_block(child, out)
    flush()


def _render_block(tag: Tag, out: list[str]) -> None:
    name = tag.name
    if name in _HEADINGS:
        heading = _clean_inline(_inline(tag)).replace("\n", " ")
        if heading:
            out.append("#" * _HEADINGS[name] + " " + heading)
    elif name == "pre":
        out.append(_fenced_code(tag))
    elif name in _LISTS:
        lines = _list_lines(tag, depth=0)
        if lines:
            out.append("\n".join(lines))
    elif name == "li":  # a stray item outside any list
        item = _clean_inline(_inline(tag)).replace("\n", " ")
        if item:
            out.append("- " + item)
    elif name == "table":
        _render_table(tag, out)
    elif name == "blockquote":
        quoted: list[str] = []
        _render_blocks(tag, quoted)
        if quoted:
            out.append("\n".join(f"> {line}" if line else ">" for line in "\n\n".join(quoted).split("\n")))
    elif name not in {"hr", "br"}:
        _render_blocks(tag, out)


def _fenced_code(pre: Tag) -> str:
    code = pre.get_text().strip("\n").rstrip()
    language = ""
    for holder in (pre, pre.find("code")):
        if isinstance(holder, Tag):
            classes = holder.get_attribute_list("class")
            language = next((c.removeprefix("language-") for c in classes if c.startswith("language-")), language)
    fence = "```"
    while fence in code:  # a fence longer than any run of backticks inside keeps the block closed
        fence += "`"
    return f"{fence}{language}\n{code}\n{fence}"


def _list_lines(list_tag: Tag, *, depth: int) -> list[str]:
    lines: list[str] = []
    for item in list_tag.find_all("li", recursive=False):
        nested: list[str] = []
        parts: list[str] = []
        for child in item.children:
            if isinstance(child, Tag) and child.name in _LISTS:
                nested.extend(_list_lines(child, depth=depth + 1))
            elif isinstance(child, Tag):
                parts.append(_inline_tag(child))
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                parts.append(_WHITESPACE.sub(" ", str(child)))
        text = _clean_inline("".join(parts)).replace("\n", " ")
        if text:
            lines.append("  " * depth + "- " + text)
        lines.extend(nested)
    return lines


def _render_table(table: Tag, out: list[str]) -> None:
    caption = table.find("caption")
    if isinstance(caption, Tag) and (text := _clean_inline(_inline(caption))):
        out.append(text)
    rows = []
    for row in table.find_all("tr"):
        cells = [_clean_inline(_inline(cell)).replace("\n", " ") for cell in row.find_all(["th", "td"])]
        if any(cells):
            rows.append(" | ".join(cells))
    if rows:
        out.append("\n".join(rows))


def _inline(node: Tag) -> str:
    """The text of ``node`` with its whitespace collapsed; ``<br>`` becomes a newline."""
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, PreformattedString):
            continue
        if isinstance(child, NavigableString):
            parts.append(_WHITESPACE.sub(" ", str(child)))
        elif isinstance(child, Tag):
            parts.append(_inline_tag(child))
    return "".join(parts)


def _inline_tag(tag: Tag) -> str:
    if tag.name == "br":
        return "\n"
    if tag.name == "code":
        code = " ".join(tag.get_text().split())
        return f"`{code}`" if code else ""
    text = _inline(tag)
    # Block boundaries inside inline content (a <div> in a <span>) still separate words.
    return f" {text} " if tag.name in _BLOCKS else text


def _clean_inline(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
