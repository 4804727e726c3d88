"""HTML from outside (a web page, a Confluence body) is read in time linear in its length, and markup that Python's
html.parser refuses costs a page, not a crawl. Before the tail was escaped, the crawler took about 7 s on each of
the first three pages below."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from knowledge.loaders.html import for_html_parser, load_html
from knowledge.sources.confluence_storage import storage_document
from knowledge.sources.http import SourceResponse
from knowledge.sources.website import _PageLinks
from tests.linear_time import assert_linear

UNCLOSED_TAILS = ["<a", "</", "<?", "<!"]


def _page(markup: str) -> SourceResponse:
    return SourceResponse(
        "https://docs.example.com/", 200, httpx.Headers({"content-type": "text/html"}), markup.encode(), "utf-8"
    )


READERS: list[tuple[str, Callable[[str], object]]] = [
    ("page loader", lambda markup: load_html(markup.encode(), source_uri="u", fallback_title="t")),
    ("crawler's link reader", lambda markup: _PageLinks.read(_page(markup))),
    ("confluence body", lambda markup: storage_document(markup, url="u", title="t")),
]


@pytest.mark.parametrize("tail", UNCLOSED_TAILS)
@pytest.mark.parametrize(("reader", "read"), READERS, ids=[reader for reader, _ in READERS])
def test_a_page_ending_in_unclosed_markup_is_read_in_linear_time(
    reader: str, read: Callable[[str], object], tail: str
) -> None:
    assert_linear(lambda size: read(f"<html><body><h1>Install</h1><p>Run it.</p>{tail * size}"), 10_000, label=reader)


def test_the_escaped_tail_reads_as_the_same_text() -> None:
    markup = "<p>a &amp; b</p> then 1 < 2 <a"
    assert for_html_parser(markup) == "<p>a &amp; b</p> then 1 &lt; 2 &lt;a"
    assert (
        load_html(markup.encode(), source_uri="u", fallback_title="t").text
        == load_html(for_html_parser(markup).encode(), source_uri="u", fallback_title="t").text
    )
    assert for_html_parser("<p>no tail</p>") == "<p>no tail</p>"


def test_a_declaration_html_parser_refuses_keeps_the_links_read_before_it() -> None:
    page = _PageLinks.read(_page('<a href="/guide">Guide</a><![<![<![ x>'))
    assert page.links == ["/guide"]
