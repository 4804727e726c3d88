"""Loaders: files, directory trees and URLs in, :class:`~knowledge.documents.SourceDocument` out.

Every format comes out as Markdown-shaped text (``#`` headings), whatever it went in as; anything that
cannot be loaded raises :class:`LoadError` with a reason a user can act on.
"""

from knowledge.loaders.errors import LoadError
from knowledge.loaders.files import LOADERS_BY_SUFFIX, SUPPORTED_SUFFIXES, Loader, load_file, source_uri_for
from knowledge.loaders.html import load_html
from knowledge.loaders.markdown import load_markdown
from knowledge.loaders.pdf import load_pdf
from knowledge.loaders.rst import load_rst
from knowledge.loaders.text import load_text
from knowledge.loaders.tree import iter_files
from knowledge.loaders.url import load_url

__all__ = [
    "LOADERS_BY_SUFFIX",
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "Loader",
    "iter_files",
    "load_file",
    "load_html",
    "load_markdown",
    "load_pdf",
    "load_rst",
    "load_text",
    "load_url",
    "source_uri_for",
]
