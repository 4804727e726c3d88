"""Loaders: each format to Markdown-shaped documents, the checks on files, and directory walks."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from knowledge.loaders import (
    SUPPORTED_SUFFIXES,
    LoadError,
    iter_files,
    load_file,
    load_html,
    load_markdown,
    load_pdf,
    load_rst,
    load_text,
    source_uri_for,
)
from knowledge.loaders.errors import human_size

MAX = 1_000_000
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def make_pdf(*pages: str, title: str | None = None, user_password: str | None = None) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.cell(text=text)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    return bytes(pdf.output())


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- Markdown ---------------------------------------------------------------------------------------------


def test_markdown_front_matter_becomes_metadata_and_leaves_the_text() -> None:
    raw = b"---\ntitle: 'Deploy guide'\nowner: platform-team\ntags: [ops, k8s]\nnested:\n  key: 1\n---\n\nIntro.\n"

    document = load_markdown(raw, source_uri="deploy.md", fallback_title="deploy")

    assert document.text == "Intro.\n"
    assert document.metadata == {"title": "Deploy guide", "owner": "platform-team", "tags": ["ops", "k8s"]}
    assert document.title == "Deploy guide"


def test_markdown_title_is_the_first_h1_and_ignores_code_fences() -> None:
    raw = b"Some intro\n\n```sh\n# a shell comment\n```\n\n## Not level one\n\n# Install Threadwise #\n\ntext\n"

    document = load_markdown(raw, source_uri="install.md", fallback_title="install")

    assert document.title == "Install Threadwise"
    # Normalised: the closing "#" run of an ATX heading goes; everything else is already in shape.
    assert document.text == raw.decode().replace("# Install Threadwise #", "# Install Threadwise")


def test_markdown_h1_wins_over_front_matter_title() -> None:
    raw = b"---\ntitle: From front matter\n---\n# From the heading\n"

    assert load_markdown(raw, source_uri="a.md", fallback_title="a").title == "From the heading"


def test_markdown_unclosed_front_matter_is_just_text() -> None:
    raw = b"---\nnot: front matter\n"

    document = load_markdown(raw, source_uri="a.md", fallback_title="a")

    assert document.text == "---\n\nnot: front matter\n"  # a thematic break, then a paragraph
    assert document.metadata == {}
    assert document.title == "a"


def test_markdown_without_any_title_uses_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "getting-started_guide.md", "Just a paragraph.\n")

    assert load_file(path, max_bytes=MAX).title == "getting started guide"


# --- Plain text -------------------------------------------------------------------------------------------


def test_text_is_kept_with_unified_line_endings_and_no_bom() -> None:
    document = load_text(b"\xef\xbb\xbfline one\r\nline two\r\n", source_uri="notes.txt", fallback_title="notes")

    assert document.text == "line one\nline two\n"
    assert document.title == "notes"


def test_extensionless_text_file_is_read_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "README", "Plain words.\n")

    document = load_file(path, max_bytes=MAX)

    assert document.text == "Plain words.\n"
    assert document.title == "README"


# --- reStructuredText -------------------------------------------------------------------------------------


RST = """\
==========
User Guide
==========

Welcome to the guide.

Installation
============

Run the installer.

From source
-----------

Build it::

    make build
    ----------

Configuration
=============
Settings live in a file.

Short
--

A line
"""


def test_rst_section_titles_become_heading_levels_in_order_of_appearance() -> None:
    document = load_rst(RST.encode(), source_uri="guide.rst", fallback_title="guide")

    assert document.title == "User Guide"
    assert document.text == (
        "# User Guide\n\n"
        "Welcome to the guide.\n\n"
        "## Installation\n\n"
        "Run the installer.\n\n"
        "### From source\n\n"
        # docutils turns "::" into ":" and the indented block into fenced code, kept as written.
        "Build it:\n\n"
        "```\n"
        "make build\n"
        "----------\n"
        "```\n\n"
        "## Configuration\n\n"
        "Settings live in a file.\n\n"
        # An underline shorter than its title and under four characters is not a title: an unwrapped paragraph.
        "Short --\n\n"
        "A line\n"
    )


def test_rst_overlined_and_underlined_styles_are_distinct_levels() -> None:
    raw = b"Part\n====\n\n=======\nChapter\n=======\n\nText\n\nPart two\n========\n"

    document = load_rst(raw, source_uri="book.rst", fallback_title="book")

    assert document.text == "# Part\n\n## Chapter\n\nText\n\n# Part two\n"


def test_rst_without_titles_uses_the_fallback() -> None:
    document = load_rst(b"Just text.\n", source_uri="a.rst", fallback_title="a")

    assert document.title == "a"
    assert document.text == "Just text.\n"


# --- HTML -------------------------------------------------------------------------------------------------


PAGE = """\
<!doctype html>
<html><head><title> Deploying  Threadwise </title><style>body { color: red }</style>
<script>window.tracking = "SCRIPT-MARKER";</script></head>
<body>
<header class="site"><a href="/">SITE-HEADER-MARKER</a></header>
<nav><ul><li><a href="/docs">NAV-MARKER</a></li></ul></nav>
<main>
  <h1>Deploying</h1>
  <p>Threadwise runs   on <strong>any</strong> host.<br>It needs <code>python  3.11</code>.</p>
  <!-- COMMENT-MARKER -->
  <h2>Steps</h2>
  <ol><li>Install it</li><li>Configure it<ul><li>Set the token</li></ul></li></ol>
  <pre><code class="language-bash">threadwise serve
  --port 8000</code></pre>
  <table><tr><th>Variable</th><th>Default</th></tr><tr><td>WEB_PORT</td><td>8000</td></tr></table>
  <h3>Notes</h3>
  <blockquote><p>Back up first.</p></blockquote>
  <noscript>NOSCRIPT-MARKER</noscript>
  <form><label>FORM-MARKER</label></form>
  <aside>ASIDE-MARKER</aside>
</main>
<footer>FOOTER-MARKER</footer>
</body></html>
"""


def test_html_keeps_the_main_content_as_markdown() -> None:
    document = load_html(PAGE.encode(), source_uri="deploy.html", fallback_title="deploy")

    assert document.title == "Deploying Threadwise"
    assert document.text == (
        "# Deploying\n\n"
        "Threadwise runs on any host.\nIt needs `python 3.11`.\n\n"
        "## Steps\n\n"
        "- Install it\n- Configure it\n  - Set the token\n\n"
        "```bash\nthreadwise serve\n  --port 8000\n```\n\n"
        "Variable | Default\nWEB_PORT | 8000\n\n"
        "### Notes\n\n"
        "> Back up first.\n"
    )


def test_html_drops_chrome_scripts_and_comments() -> None:
    text = load_html(PAGE.encode(), source_uri="deploy.html", fallback_title="deploy").text

    for marker in ("SCRIPT", "SITE-HEADER", "NAV", "COMMENT", "NOSCRIPT", "FORM", "ASIDE", "FOOTER"):
        assert f"{marker}-MARKER" not in text
    assert "color: red" not in text


def test_html_without_main_uses_article_and_keeps_its_own_header() -> None:
    raw = b"""<html><body><nav>menu</nav><div>BODY-ONLY</div>
    <article><header><h1>Release notes</h1><p>March</p></header><p>Fixed things.</p></article></body></html>"""

    document = load_html(raw, source_uri="notes.html", fallback_title="notes")

    assert document.text == "# Release notes\n\nMarch\n\nFixed things.\n"
    assert document.title == "Release notes"  # no <title>: the first h1


def test_html_falls_back_to_the_body_and_then_to_the_file_name() -> None:
    raw = b"<html><body><header>top</header><p>Only a paragraph.</p><footer>bottom</footer></body></html>"

    document = load_html(raw, source_uri="page.html", fallback_title="page")

    assert document.text == "Only a paragraph.\n"
    assert document.title == "page"


def test_html_role_main_is_the_content_when_there_is_no_main_or_article() -> None:
    raw = b'<body><div>sidebar</div><div role="main"><h2>Inside</h2><p>Yes.</p></div></body>'

    assert load_html(raw, source_uri="p.html", fallback_title="p").text == "## Inside\n\nYes.\n"


def test_html_is_decoded_with_its_meta_charset() -> None:
    raw = '<html><head><meta charset="iso-8859-1"><title>Café</title></head><body><p>Crème brûlée</p></body>'

    document = load_html(raw.encode("iso-8859-1"), source_uri="menu.html", fallback_title="menu")

    assert document.title == "Café"
    assert document.text == "Crème brûlée\n"


def test_html_with_undecodable_bytes_still_loads() -> None:
    document = load_html(b"<p>caf\xe9 ok</p>", source_uri="p.html", fallback_title="p")

    assert document.text == "caf\ufffd ok\n"


# --- PDF --------------------------------------------------------------------------------------------------


def test_pdf_text_is_read_page_by_page(tmp_path: Path) -> None:
    path = write(tmp_path / "q3-report.pdf", make_pdf("Revenue grew in Q3.", "Costs fell in Q3.", title="Q3 Report"))

    document = load_file(path, root=tmp_path, max_bytes=MAX)

    assert document.title == "Q3 Report"
    assert document.text == "Revenue grew in Q3.\n\nCosts fell in Q3.\n"
    assert document.metadata["pages"] == 2
    assert document.source_uri == "q3-report.pdf"


def test_pdf_without_a_metadata_title_uses_the_fallback() -> None:
    document = load_pdf(make_pdf("One page."), source_uri="x.pdf", fallback_title="x")

    assert document.title == "x"
    assert document.metadata == {"pages": 1}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(make_pdf("Some text.", "More text.")[:700], id="truncated"),
        pytest.param(b"%PDF-1.7\n" + b"\x00garbage\xff" * 100, id="garbage-after-header"),
        pytest.param(b"", id="empty"),
    ],
)
def test_corrupt_pdf_is_a_load_error(raw: bytes) -> None:
    with pytest.raises(LoadError, match=r"^corrupt PDF \(.+\)$") as caught:
        load_pdf(raw, source_uri="broken.pdf", fallback_title="broken")

    assert caught.value.message.startswith("skipped broken.pdf: corrupt PDF (")


def test_pdf_without_text_is_reported_as_probably_scanned() -> None:
    with pytest.raises(LoadError, match=r"no extractable text \(scanned PDF\?\)"):
        load_pdf(make_pdf("", ""), source_uri="scan.pdf", fallback_title="scan")


def test_password_protected_pdf_is_a_load_error() -> None:
    with pytest.raises(LoadError, match="encrypted PDF"):
        load_pdf(make_pdf("Secret.", user_password="let-me-in"), source_uri="s.pdf", fallback_title="s")


def test_pdf_encrypted_without_a_user_password_opens() -> None:
    document = load_pdf(make_pdf("Readable.", user_password=""), source_uri="r.pdf", fallback_title="r")

    assert document.text == "Readable.\n"


# --- load_file checks -------------------------------------------------------------------------------------


def test_binary_file_is_skipped_as_binary(tmp_path: Path) -> None:
    path = write(tmp_path / "docs" / "logo.png", PNG_HEADER + bytes(200))

    with pytest.raises(LoadError) as caught:
        load_file(path, root=tmp_path, max_bytes=MAX)

    # str() is the reason alone: the ingest report already says which file it is about.
    assert str(caught.value) == "binary file"
    assert caught.value.source == "docs/logo.png"
    assert caught.value.message == "skipped docs/logo.png: binary file"


@pytest.mark.parametrize("name", ["notes.md", "notes.txt", "notes.rst", "notes.html", "notes"])
def test_binary_content_under_a_text_suffix_is_skipped(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, b"looks like text\x00\x01\x02")

    with pytest.raises(LoadError, match="binary file"):
        load_file(path, max_bytes=MAX)


def test_text_that_is_not_utf8_is_skipped_as_binary(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.txt", "café".encode("latin-1"))

    with pytest.raises(LoadError, match=r"binary file \(not valid UTF-8"):
        load_file(path, max_bytes=MAX)


def test_oversized_file_is_skipped_with_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path / "big.md", "x" * 31_200)

    with pytest.raises(LoadError) as caught:
        load_file(path, root=tmp_path, max_bytes=20_000)

    assert caught.value.message == "skipped big.md: 31.2 kB is over the 20 kB limit (KNOWLEDGE_MAX_FILE_BYTES)"


def test_a_file_at_the_limit_loads(tmp_path: Path) -> None:
    path = write(tmp_path / "exact.txt", "y" * 100)

    assert load_file(path, max_bytes=100).text == "y" * 100


def test_unsupported_text_type_names_its_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "config.YAML", "key: value\n")

    with pytest.raises(LoadError, match=r"^unsupported file type \.yaml$") as caught:
        load_file(path, root=tmp_path, max_bytes=MAX)

    assert caught.value.source == "config.YAML"


def test_missing_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot read"):
        load_file(tmp_path / "gone.md", max_bytes=MAX)


def test_source_uri_is_relative_to_the_root_or_an_absolute_file_uri(tmp_path: Path) -> None:
    path = write(tmp_path / "docs" / "guide" / "intro.md", "# Intro\n")

    assert load_file(path, root=tmp_path, max_bytes=MAX).source_uri == "docs/guide/intro.md"
    assert load_file(path, max_bytes=MAX).source_uri == path.resolve().as_uri()
    assert source_uri_for(path, root=tmp_path / "docs") == "guide/intro.md"
    # A file outside the root cannot be named relative to it.
    assert source_uri_for(path, root=tmp_path / "elsewhere") == path.resolve().as_uri()


def test_suffixes_are_matched_case_insensitively(tmp_path: Path) -> None:
    path = write(tmp_path / "NOTES.MD", "# Loud\n")

    assert load_file(path, max_bytes=MAX).title == "Loud"
    assert {".md", ".markdown", ".mdx", ".txt", ".rst", ".html", ".htm", ".pdf"} == SUPPORTED_SUFFIXES


def test_a_file_just_over_the_limit_shows_exact_sizes(tmp_path: Path) -> None:
    path = write(tmp_path / "edge.md", "z" * 20_001)

    with pytest.raises(LoadError, match=r"20,001 bytes is over the 20,000-byte limit \(KNOWLEDGE_MAX_FILE_BYTES\)$"):
        load_file(path, max_bytes=20_000)


@pytest.mark.parametrize(
    ("size", "shown"),
    [(512, "512 bytes"), (20_000_000, "20 MB"), (31_200_000, "31.2 MB"), (1_500, "1.5 kB"), (2_000_000_000, "2 GB")],
)
def test_sizes_read_like_file_sizes(size: int, shown: str) -> None:
    assert human_size(size) == shown


# --- Directory trees --------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        "README.md": "# Readme\n",
        "guide.rst": "Guide\n=====\n",
        "notes.txt": "notes\n",
        "index.html": "<p>hi</p>",
        "manual.pdf": "not really a pdf",
        "script.py": "print()\n",
        "logo.png": "png",
        "Makefile": "all:\n",
        "docs/intro.md": "# Intro\n",
        "docs/deep/nested/page.md": "# Page\n",
        "docs/api.rst": "API\n===\n",
        "docs/private.md": "secret\n",
        "docs/keep.log.md": "kept\n",
        "docs/.gitignore": "private.md\n!keep.log.md\n",
        "build/out.md": "generated\n",
        "drafts/wip.md": "wip\n",
        "debug.log.md": "ignored by a root pattern\n",
        ".gitignore": "build/\n*.log.md\n",
        ".hidden.md": "hidden\n",
        ".git/HEAD.md": "git\n",
        ".venv/lib/site.md": "venv\n",
        "node_modules/pkg/README.md": "dependency\n",
        "__pycache__/cache.md": "cache\n",
    }
    for relative, content in files.items():
        write(root / relative, content)
    return root


def relative_files(root: Path, **globs: list[str]) -> list[str]:
    return [path.relative_to(root).as_posix() for path in iter_files(root, **globs)]


def test_tree_yields_supported_files_in_sorted_order_skipping_ignored_and_hidden(tree: Path) -> None:
    assert relative_files(tree) == [
        "README.md",
        "docs/api.rst",
        "docs/deep/nested/page.md",
        "docs/intro.md",
        "docs/keep.log.md",  # re-included by the nested .gitignore
        "drafts/wip.md",
        "guide.rst",
        "index.html",
        "manual.pdf",
        "notes.txt",
    ]


def test_tree_include_globs_restrict_to_matches(tree: Path) -> None:
    assert relative_files(tree, include=["docs/**/*.md"]) == [
        "docs/deep/nested/page.md",
        "docs/intro.md",
        "docs/keep.log.md",
    ]
    assert relative_files(tree, include=["*.rst"]) == ["docs/api.rst", "guide.rst"]
    # An explicit include may name files of any type; the loader then says why it skips them.
    assert relative_files(tree, include=["Makefile", "*.png"]) == ["Makefile", "logo.png"]


def test_tree_exclude_globs_remove_files_and_directories(tree: Path) -> None:
    assert relative_files(tree, exclude=["docs/", "*.txt", "manual.pdf"]) == [
        "README.md",
        "drafts/wip.md",
        "guide.rst",
        "index.html",
    ]
    assert relative_files(tree, include=["**/*.md"], exclude=["drafts/**", "**/nested/"]) == [
        "README.md",
        "docs/intro.md",
        "docs/keep.log.md",
    ]


def test_tree_gitignore_can_re_include_what_a_parent_ignores(tmp_path: Path) -> None:
    write(tmp_path / ".gitignore", "*.txt\n")
    write(tmp_path / "a.txt", "a")
    write(tmp_path / "sub" / ".gitignore", "!wanted.txt\n")
    write(tmp_path / "sub" / "wanted.txt", "w")
    write(tmp_path / "sub" / "other.txt", "o")
    write(tmp_path / "sub" / "deeper" / "x.txt", "x")

    assert relative_files(tmp_path) == ["sub/wanted.txt"]


def test_tree_does_not_follow_directory_symlinks(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "real.md", "# Real\n")
    write(tmp_path / "outside" / "elsewhere.md", "# Elsewhere\n")
    (tmp_path / "docs" / "loop").symlink_to(tmp_path / "docs", target_is_directory=True)
    (tmp_path / "docs" / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "docs" / "alias.md").symlink_to(tmp_path / "outside" / "elsewhere.md")
    (tmp_path / "docs" / "dangling.md").symlink_to(tmp_path / "nowhere.md")

    assert relative_files(tmp_path / "docs") == ["alias.md", "real.md"]


def test_tree_files_load_with_paths_relative_to_the_root(tree: Path) -> None:
    documents = [load_file(path, root=tree.parent, max_bytes=MAX) for path in iter_files(tree, include=["docs/*.md"])]

    assert [(d.source_uri, d.title) for d in documents] == [
        ("repo/docs/intro.md", "Intro"),
        ("repo/docs/keep.log.md", "keep.log"),
    ]
