"""The Markdown loader on documentation-site dialects (MkDocs Material, Docusaurus/MDX, GitHub): clean Markdown out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.loaders import load_file, load_markdown
from knowledge.loaders.markdown_render import normalise_markdown
from knowledge.markdown_blocks import fence_spans
from tests.linear_time import assert_linear

HTTPX_TIMEOUTS = Path("/work/shared/data/docs-qa/httpx/corpus/advanced/timeouts.md")
CODE_WITH_PROMPTS = '$ pip install "httpx[cli]"  \n\n$ httpx --help\n\n\nUsage: httpx [OPTIONS] URL\n'


def md(text: str) -> str:
    return normalise_markdown(text)


def mdx(text: str) -> str:
    return normalise_markdown(text, mdx=True)


# --- Blocks -----------------------------------------------------------------------------------------------


def test_setext_headings_become_atx_and_closing_hashes_go() -> None:
    assert md("Guide\n=====\n\nPart\n----\n\n### Deep ###\n") == "# Guide\n\n## Part\n\n### Deep\n"


def test_hard_wrapped_paragraphs_are_unwrapped_and_hard_breaks_kept() -> None:
    text = "The default behaviour is to raise\nafter 5 seconds of\nnetwork inactivity.\\\nNext line.\n\n\n\nSecond.\n"

    assert (
        md(text) == "The default behaviour is to raise after 5 seconds of network inactivity.\nNext line.\n\nSecond.\n"
    )


def test_fenced_code_is_kept_byte_for_byte_with_blank_lines_prompts_and_trailing_spaces() -> None:
    text = f"Run:\n\n```console\n{CODE_WITH_PROMPTS}```\n"

    assert md(text) == f"Run:\n\n```console\n{CODE_WITH_PROMPTS}```\n"


def test_fence_attributes_are_dropped_down_to_the_language() -> None:
    text = (
        '```python hl_lines="2 3" linenums="1"\na\n```\n\n'
        "``` { .python .annotate }\nb\n```\n\n"
        '```py title="x.py"\nc\n```\n\n'
        "```js{1,3}\nd\n```\n\n"
        '```title="only-attrs"\ne\n```\n'
    )

    assert md(text) == "```python\na\n```\n\n```python\nb\n```\n\n```py\nc\n```\n\n```js\nd\n```\n\n```\ne\n```\n"


def test_a_fence_grows_past_backtick_runs_inside_and_tildes_become_backticks() -> None:
    text = "~~~markdown\n```py\nx\n```\n~~~\n"

    assert md(text) == "````markdown\n```py\nx\n```\n````\n"


def test_indented_code_becomes_a_fence() -> None:
    text = "Example:\n\n    def f():\n\n        return 1\n"

    assert md(text) == "Example:\n\n```\ndef f():\n\n    return 1\n```\n"


def test_lists_are_normalised_and_nested_by_the_parents_content_width() -> None:
    text = "* one\n  wrapped\n* two\n    + nested\n      also wrapped\n\n3) three\n4) four\n"

    assert md(text) == "- one wrapped\n- two\n  - nested also wrapped\n\n3. three\n4. four\n"


def test_a_fence_in_a_list_item_is_dedented_to_the_item_and_indented_as_its_continuation() -> None:
    text = "1. Install:\n\n    ```bash\n    $ pip install x\n\n      indented  \n    ```\n\n2. Done\n"

    assert md(text) == "1. Install:\n\n   ```bash\n   $ pip install x\n\n     indented  \n   ```\n\n2. Done\n"


def test_task_lists_tables_and_blockquotes() -> None:
    text = "- [x] done\n- [ ] todo\n\n|a|b|\n|:-|:-:|\n|1|x \\| y|\n\n> quoted\n> text\n>\n> more\n"

    assert md(text) == (
        "- [x] done\n- [ ] todo\n\n| a | b |\n| :--- | :---: |\n| 1 | x \\| y |\n\n> quoted text\n>\n> more\n"
    )


def test_definition_lists_and_footnotes() -> None:
    text = "Timeout\n:   How long to wait.\n\nSee the note[^n].\n\n[^n]: The footnote text.\n\nAfter.\n"

    assert md(text) == "- **Timeout**: How long to wait.\n\nSee the note.\n\nAfter.\n\nThe footnote text.\n"


# --- Documentation-site constructs ------------------------------------------------------------------------


def test_mkdocs_admonitions_become_labelled_paragraphs_with_their_blocks_at_top_level() -> None:
    text = (
        '!!! note "Custom title"\n    First paragraph\n    wrapped.\n\n'
        "    ```python\n    x = 1\n\n    y = 2\n    ```\n\n"
        "??? warning\n    Closed by default.\n\n"
        "???+ tip\n    Open.\n\n"
        '!!! danger ""\n    - starts with a list\n'
    )

    assert md(text) == (
        "**Custom title:** First paragraph wrapped.\n\n```python\nx = 1\n\ny = 2\n```\n\n"
        "**Warning:** Closed by default.\n\n**Tip:** Open.\n\n**Danger:**\n\n- starts with a list\n"
    )


def test_mkdocs_content_tabs_become_a_bold_label_and_their_dedented_blocks() -> None:
    text = '=== "Python"\n\n    ```python\n    import httpx\n    ```\n\n=== "CLI"\n\n    Run it\n    here.\n'

    assert md(text) == "**Python**\n\n```python\nimport httpx\n```\n\n**CLI**\n\nRun it here.\n"


def test_github_alerts() -> None:
    text = "> [!WARNING]\n> Careful\n> now.\n\n> [!NOTE]\n> ```sh\n> $ ls\n> ```\n"

    assert md(text) == "**Warning:** Careful now.\n\n**Note:**\n\n```sh\n$ ls\n```\n"


def test_docusaurus_admonitions() -> None:
    text = ":::note[Read this]\nBody.\n:::\n\n:::tip Handy\nText.\n:::\n\n:::caution\nPlain.\n:::\n"

    assert mdx(text) == "**Read this:** Body.\n\n**Handy:** Text.\n\n**Caution:** Plain.\n"


def test_mdx_imports_are_dropped_and_jsx_keeps_its_markdown_and_tab_labels() -> None:
    text = (
        "import Tabs from '@theme/Tabs';\nimport TabItem from '@theme/TabItem';\n\nexport const meta = {a: 1};\n\n"
        '<Tabs>\n  <TabItem value="py" label="Python">\n\n```python\nprint("hi")\n```\n\n  </TabItem>\n'
        '  <TabItem value="js" label="JavaScript" default>\n    Some *js* text.\n  </TabItem>\n</Tabs>\n\n'
        'A <Highlight color="red">key</Highlight> word {/* hidden */} here.\n'
    )

    assert mdx(text) == (
        '**Python**\n\n```python\nprint("hi")\n```\n\n**JavaScript**\n\nSome *js* text.\n\nA key word here.\n'
    )


def test_import_prose_in_plain_markdown_is_kept() -> None:
    assert md("import the module first.\n\nimport x from 'y';\n") == "import the module first.\n"


def test_html_comments_tags_scripts_and_styles() -> None:
    text = (
        "<!-- a block comment\nover lines -->\n\nPress <kbd>Ctrl</kbd>+<kbd>C</kbd> <!-- inline --> now.\n\n"
        '<div class="x">inside a div</div>\n\n<script>alert("x")</script>\n\n<style>p { color: red }</style>\n\n'
        "Inline <script>evil()</script>kept.\n"
    )

    assert md(text) == "Press Ctrl+C now.\n\ninside a div\n\nInline kept.\n"


def test_reference_links_become_inline_and_urls_stay_as_written() -> None:
    text = (
        "See [the guide][guide], [guide] and [rel](../advanced/clients.md#pool) or <https://example.org/x>.\n"
        "Also [Über](docs/über.md).\n\n"
        '[guide]: https://example.com/a_b(1) "Title"\n'
    )

    assert md(text) == (
        "See [the guide](https://example.com/a_b(1)), [guide](https://example.com/a_b(1)) and "
        "[rel](../advanced/clients.md#pool) or <https://example.org/x>. Also [Über](docs/über.md).\n"
    )


def test_attribute_lists_snippets_abbreviations_toc_and_images_are_dropped() -> None:
    text = (
        "[TOC]\n\n## Install { #install .wide }\n\nA paragraph.\n{: .lead }\n\n"
        '[Docs](https://x.org){: target="_blank" } here.\n\n--8<-- "includes/abbr.md"\n\n'
        "*[HTML]: Hyper Text Markup Language\n\n![diagram](img/d.png)\n\n[![badge](b.svg)](https://ci)\n\nEnd.\n"
    )

    assert md(text) == "## Install\n\nA paragraph.\n\n[Docs](https://x.org) here.\n\nEnd.\n"


def test_inline_code_emphasis_and_strong_are_kept() -> None:
    assert md("Use `a` and ``x ` y``, _em_ and __strong__.\n") == "Use `a` and ``x ` y``, *em* and **strong**.\n"


def test_escaped_heading_and_fence_markers_stay_text() -> None:
    assert md("\\# not a heading\n\n\\`\\`\\` not a fence\n") == "\\# not a heading\n\n\\``` not a fence\n"


# --- The loader -------------------------------------------------------------------------------------------


def test_load_markdown_keeps_front_matter_as_metadata_and_titles_by_the_first_h1() -> None:
    raw = b"---\nslug: /install\nsidebar_label: Install\ntitle: From front matter\n---\n\nSetup\n=====\n\nText.\n"

    document = load_markdown(raw, source_uri="docs/install.mdx", fallback_title="install")

    assert document.metadata == {"slug": "/install", "sidebar_label": "Install", "title": "From front matter"}
    assert document.title == "Setup"
    assert document.text == "# Setup\n\nText.\n"


def test_mdx_files_are_loaded_by_suffix_without_indented_code(tmp_path: Path) -> None:
    path = tmp_path / "intro.mdx"
    path.write_text(
        "import X from './x';\n\n# Intro\n\n<Note>\n\n    Indented JSX text.\n\n</Note>\n", encoding="utf-8"
    )

    document = load_file(path, max_bytes=1_000_000)

    assert document.title == "Intro"
    assert document.text == "# Intro\n\nIndented JSX text.\n"


def _code_blocks(text: str) -> list[str]:
    return [match[1] for match in re.finditer(r"^```[^\n]*\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)]


@pytest.mark.skipif(not HTTPX_TIMEOUTS.exists(), reason="the httpx docs corpus is not on this machine")
def test_a_real_mkdocs_page_comes_out_clean_with_every_code_block_verbatim() -> None:
    raw = HTTPX_TIMEOUTS.read_bytes()

    text = load_markdown(raw, source_uri="advanced/timeouts.md", fallback_title="timeouts").text

    for marker in ("!!!", "===", "<!--", "{:"):
        assert marker not in text
    original_blocks = _code_blocks(raw.decode())
    assert original_blocks
    assert _code_blocks(text) == original_blocks
    assert "The default behavior is to raise a `TimeoutException` after 5 seconds of network inactivity." in text
    assert "## Setting and disabling timeouts" in text


# --- Robustness -------------------------------------------------------------------------------------------


def test_deeply_nested_input_does_not_overflow_the_stack() -> None:
    emphasis = "*" * 5000 + "a" + "*" * 5000
    lists = "".join(" " * (2 * depth) + "- a\n" for depth in range(2000))

    assert md(emphasis).strip("*\n") == "a"
    assert md(lists).startswith("- a\n  - a\n")
    assert md(">" * 5000 + " x").startswith("> > >")  # past 32 levels the parser stops, by design


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.text(alphabet="!?=:+-*_`~#>[](){}<>/\\|\"' \n\tabc.1", max_size=400))
def test_any_text_normalises_without_raising_or_leaving_a_fence_open(text: str) -> None:
    for out in (md(text), mdx(text)):
        assert out == "" or out.endswith("\n")
        # Every fence the output opens, it closes: a quote of it never runs code into the rest of a message.
        lines = out.split("\n")
        spans = fence_spans(lines)
        assert not spans or spans[-1][1] < len(lines)


DOC_PAGE_UNIT = (
    "## Configuring the client\n\nYou can set timeouts on a client instance, which results in the given\n"
    "`timeout` being used as the default for requests made with this client, and *also* for\n"
    "[streaming](../advanced/streaming.md) responses.\n\n```python\nclient = httpx.Client(timeout=10.0)\n\n"
    "response = client.get('https://example.org/')\n```\n\n* The **connect** timeout is the time to wait until\n"
    "a socket connection is established.\n* The **read** timeout bounds each chunk.\n\n"
    '!!! note "Defaults"\n    Five seconds everywhere, unless\n    you say otherwise.\n\n'
    "| Timeout | Default |\n| --- | --- |\n| connect | 5.0 |\n\n"
)


def _doc_page(size: int) -> bytes:
    return (DOC_PAGE_UNIT * (size // len(DOC_PAGE_UNIT))).encode()


def test_a_megabyte_documentation_page_loads_whole() -> None:
    document = load_markdown(_doc_page(1_000_000), source_uri="big.md", fallback_title="big")
    assert document.text.count("**Defaults:** Five seconds everywhere, unless you say otherwise.") > 1000


def test_a_documentation_page_loads_in_time_linear_in_its_length() -> None:
    assert_linear(lambda size: load_markdown(_doc_page(size), source_uri="big.md", fallback_title="big"), 100_000)


@pytest.mark.parametrize(
    "unit",
    [":::note\n", "!!! note\n    ", '=== "a"\n    ', "[[[[((<a ", "{", "<div>\n<a href='", "*[a]: b\n", "`a"],
)
def test_pathological_input_normalises_in_linear_time(unit: str) -> None:
    # Quadratic behaviour of ours would take minutes at the larger size.
    assert_linear(lambda size: normalise_markdown((unit * (size // len(unit) + 1))[:size]), 10_000, label=unit)
