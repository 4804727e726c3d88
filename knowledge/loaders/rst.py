"""reStructuredText and Sphinx sources: parsed by docutils, written out as normalised Markdown."""

from __future__ import annotations

from core.logging import get_logger
from knowledge.documents import SourceDocument
from knowledge.loaders.rst_markdown import render_markdown
from knowledge.loaders.rst_parse import parse_rst
from knowledge.loaders.rst_titles import rewrite_titles
from knowledge.loaders.text import decode_text

log = get_logger(__name__)


def load_rst(raw: bytes, *, source_uri: str, fallback_title: str) -> SourceDocument:
    """A ``.rst`` file: title from the document's title (its first section title), else ``fallback_title``."""
    text, titles = rst_to_markdown(decode_text(raw, source_uri=source_uri), source_uri=source_uri)
    return SourceDocument(source_uri=source_uri, title=titles[0] if titles else fallback_title, text=text)


def rst_to_markdown(text: str, *, source_uri: str = "<rst>") -> tuple[str, list[str]]:
    """Markdown for ``text`` and its section titles in order; never raises.

    Should docutils itself fail on some input, the text is kept with only its section titles rewritten,
    so the document is still searchable.
    """
    try:
        document = parse_rst(text, source_uri=source_uri)
        markdown, titles = render_markdown(document)
    except Exception as error:  # a docutils bug on odd input must not lose the whole document
        log.warning("rst.docutils_failed", source_uri=source_uri, exc_info=error)
        return rewrite_titles(text)
    title = document.get("title")  # set by a ``.. title::`` directive
    if isinstance(title, str) and title.strip():
        titles = [title.strip(), *titles]
    return markdown, titles
