"""Published URLs: each generator's mapping from a source path to its page, and the bases that are refused."""

from __future__ import annotations

import pytest

from knowledge.published import PublishedSite, PublishedUrlError, published_url, strip_number_prefix

BASE = "https://docs.example.com/guide/"


def site(style: str = "auto", base: str = BASE) -> PublishedSite:
    return PublishedSite.create(base=base, style=style)


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("advanced/timeouts.md", "https://docs.example.com/guide/advanced/timeouts/"),
        ("advanced/index.md", "https://docs.example.com/guide/advanced/"),
        ("advanced/README.md", "https://docs.example.com/guide/advanced/"),
        ("index.md", "https://docs.example.com/guide/"),
        ("files/report.html", "https://docs.example.com/guide/files/report.html"),
        ("advanced/", "https://docs.example.com/guide/advanced/"),
    ],
)
def test_mkdocs_uses_directory_urls(path: str, url: str) -> None:
    assert published_url(site("mkdocs"), path) == url


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("api/client.rst", "https://docs.example.com/guide/api/client.html"),
        ("api/index.rst", "https://docs.example.com/guide/api/index.html"),
        ("notes/changes.md", "https://docs.example.com/guide/notes/changes.html"),
        ("notes/legal.txt", "https://docs.example.com/guide/notes/legal.html"),
        ("README.md", "https://docs.example.com/guide/README.html"),
        ("api/", "https://docs.example.com/guide/api/index.html"),
    ],
)
def test_sphinx_html_builder_makes_html_files(path: str, url: str) -> None:
    assert published_url(site("sphinx"), path) == url


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("setup/install.md", "https://docs.example.com/guide/setup/install"),
        ("01-setup/02_install.mdx", "https://docs.example.com/guide/setup/install"),
        ("01-setup/index.md", "https://docs.example.com/guide/setup/"),
        ("setup/README.mdx", "https://docs.example.com/guide/setup/"),
        ("setup/setup.md", "https://docs.example.com/guide/setup/"),
        ("intro.md", "https://docs.example.com/guide/intro"),
    ],
)
def test_docusaurus_routes(path: str, url: str) -> None:
    assert published_url(site("docusaurus"), path) == url


def test_docusaurus_front_matter_slug_and_id() -> None:
    docusaurus = site("docusaurus")
    assert published_url(docusaurus, "01-setup/install.md", doc_id="get-started") == (
        "https://docs.example.com/guide/setup/get-started"
    )
    # An absolute slug is from the docs route, a relative one from the file's folder.
    assert published_url(docusaurus, "01-setup/install.md", slug="/start") == "https://docs.example.com/guide/start"
    assert published_url(docusaurus, "setup/install.md", slug="begin") == "https://docs.example.com/guide/setup/begin"
    assert published_url(docusaurus, "setup/index.md", slug="/") == "https://docs.example.com/guide/"


@pytest.mark.parametrize(
    ("name", "stripped"),
    [
        ("01-intro", "intro"),
        ("01_intro", "intro"),
        ("1. intro", "intro"),
        ("003 - intro", "intro"),
        ("2021-01-31-release", "2021-01-31-release"),
        ("7.0-notes", "7.0-notes"),
        ("intro-01", "intro-01"),
        ("42", "42"),
        ("01-", "01-"),
    ],
)
def test_number_prefixes(name: str, stripped: str) -> None:
    assert strip_number_prefix(name) == stripped


def test_auto_picks_the_style_by_suffix() -> None:
    auto = site()
    assert published_url(auto, "a/b.rst") == "https://docs.example.com/guide/a/b.html"
    assert published_url(auto, "01-a/b.mdx") == "https://docs.example.com/guide/a/b"
    assert published_url(auto, "a/b.md") == "https://docs.example.com/guide/a/b/"


def test_template_fills_path_and_file() -> None:
    wiki = PublishedSite.create(base=None, template="https://wiki.example.com/{path}.html?src={file}")
    assert (
        published_url(wiki, "ops/run book.md") == "https://wiki.example.com/ops/run%20book.html?src=ops/run%20book.md"
    )
    assert published_url(wiki, "ops/", fragment="top") == "https://wiki.example.com/ops/index.html?src=ops/index#top"


def test_segments_are_encoded_and_fragments_kept() -> None:
    url = published_url(site("mkdocs"), "Über uns/100% (draft).md", fragment="set up")
    assert url == "https://docs.example.com/guide/%C3%9Cber%20uns/100%25%20%28draft%29/#set%20up"
    assert (
        published_url(site("mkdocs"), "a.md", fragment="opt%20ions") == "https://docs.example.com/guide/a/#opt%20ions"
    )


@pytest.mark.parametrize(
    "base",
    [
        "ftp://docs.example.com",
        "docs.example.com/guide",
        "javascript:alert(1)",
        "https://user:secret@docs.example.com",
        "https://token@docs.example.com",
        "https://docs.example.com/?version=2",
        "https://docs.example.com/#top",
        "https:///no-host",
        "https://docs.example.com/a b",
        "https://[::1",
    ],
)
def test_bad_bases_are_refused(base: str) -> None:
    with pytest.raises(PublishedUrlError):
        PublishedSite.create(base=base, style="mkdocs")


@pytest.mark.parametrize(
    ("base", "style", "template"),
    [
        (None, "mkdocs", None),
        (BASE, "hugo", None),
        (BASE, "template", None),
        (None, "sphinx", "https://wiki.example.com/{path}"),
        (None, "auto", "https://wiki.example.com/page"),
        (None, "auto", "https://{path}.example.com/"),
        (None, "auto", "https://wiki.example.com/{path}#{file}"),
        (None, "auto", "https://wiki.example.com/{name}/{path}"),
    ],
)
def test_bad_combinations_are_refused(base: str | None, style: str, template: str | None) -> None:
    with pytest.raises(PublishedUrlError):
        PublishedSite.create(base=base, style=style, template=template)


def test_a_site_survives_its_stored_settings() -> None:
    stored = site("sphinx")
    assert PublishedSite.from_settings(stored.to_settings()) == stored
    assert PublishedSite.from_settings({"style": "mkdocs", "base": "ftp://x"}) is None
    assert PublishedSite.from_settings(None) is None
