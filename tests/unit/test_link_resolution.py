"""Relative links at ingest: to published pages with a site, to plain text without, never inside code."""

from __future__ import annotations

from knowledge.documents import SourceDocument
from knowledge.link_resolution import PageContext, publish_document, resolve_links
from knowledge.published import PublishedSite

SITE = PublishedSite.create(base="https://docs.example.com")  # auto: .md as MkDocs, .rst as Sphinx
PAGE = PageContext(path="guide/intro.md", site=SITE, page_url="https://docs.example.com/guide/intro/")
LOCAL = PageContext(path="guide/intro.md")


def test_a_relative_document_link_becomes_its_published_url_with_the_anchor() -> None:
    text = "Run it with the [CLI](../reference/cli.md#options) or [the API](api.rst).\n"
    assert resolve_links(text, PAGE) == (
        "Run it with the [CLI](https://docs.example.com/reference/cli/#options) or "
        "[the API](https://docs.example.com/guide/api.html).\n"
    )


def test_a_same_page_anchor_points_at_the_page() -> None:
    assert resolve_links("See [below](#setup).", PAGE) == "See [below](https://docs.example.com/guide/intro/#setup)."


def test_folder_links_go_to_the_folder_index() -> None:
    assert resolve_links("[All](../reference/)", PAGE) == "[All](https://docs.example.com/reference/)"


def test_without_a_site_relative_links_become_their_text() -> None:
    text = 'Run the [CLI](../reference/cli.md#options), see [below](#setup) or\n- the [long\n  name](x.md "t").\n'
    assert resolve_links(text, LOCAL) == "Run the CLI, see below or\n- the long\n  name.\n"


def test_links_in_code_spans_and_fences_are_untouched() -> None:
    text = (
        "Write `[CLI](../cli.md)` like this:\n\n```md\n[CLI](../cli.md)\n```\n\n    [CLI](../cli.md)\n\n"
        "~~~\n[x](y.md)\n~~~\n"
    )
    assert resolve_links(text, PAGE) == text
    assert resolve_links(text, LOCAL) == text


def test_other_schemes_are_neutralised_and_web_links_kept() -> None:
    text = "[run](javascript:alert(1)) [img](data:text/html,hi) [mail](mailto:a@b.c) [web](https://x.org/a#b)"
    assert resolve_links(text, PAGE) == "run img mail [web](https://x.org/a#b)"


def test_links_leaving_the_folder_or_to_other_files_become_text() -> None:
    assert resolve_links("[up](../../../outside.md) [logo](img/logo.png)", PAGE) == "up logo"


def test_a_page_loaded_from_a_url_resolves_against_it() -> None:
    page = PageContext(page_url="https://raw.example.com/docs/guide/intro.md")
    text = "[CLI](../reference/cli.md#options) [here](#setup) [net](//cdn.example.com/x.md)"
    assert resolve_links(text, page) == (
        "[CLI](https://raw.example.com/docs/reference/cli.md#options) "
        "[here](https://raw.example.com/docs/guide/intro.md#setup) [net](https://cdn.example.com/x.md)"
    )


def test_the_rest_of_the_text_stays_as_it_was() -> None:
    text = "# Title [h](a.md) #\n\n> - quoted [a](<b c.md> 'title') *kept*\n\n| t | [c](d.md) |\n"
    assert resolve_links(text, PAGE) == (
        "# Title [h](https://docs.example.com/guide/a/) #\n\n"
        "> - quoted [a](https://docs.example.com/guide/b%20c/ 'title') *kept*\n\n"
        "| t | [c](https://docs.example.com/guide/d/) |\n"
    )


def test_publish_document_sets_the_url_and_never_keeps_the_files_own() -> None:
    document = SourceDocument("docs/01-setup/install.mdx", "Install", "[Next](next.mdx)", {"url": "javascript:x"})
    docusaurus = PublishedSite.create(base="https://docs.example.com/docs", style="docusaurus")
    published = publish_document(document, site=docusaurus, site_path="01-setup/install.mdx")
    assert published.metadata == {"url": "https://docs.example.com/docs/setup/install"}
    assert published.text == "[Next](https://docs.example.com/docs/setup/next)"
    assert publish_document(document, site=None, site_path="01-setup/install.mdx").metadata == {}
    page = SourceDocument("https://example.com/a/b.md", "B", "[c](c.md)")
    assert publish_document(page, site=None, site_path=None).metadata == {"url": "https://example.com/a/b.md"}
