"""Notion blocks to Markdown, and that Markdown through the Markdown loader as a synced page goes."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge.loaders.markdown import load_markdown
from knowledge.sources.notion_blocks import (
    CHILDREN,
    blocks_markdown,
    escape_markdown,
    page_markdown,
    property_text,
    rich_text_markdown,
)
from tests.fakes.notion_api import block_json, rich_text, runs


def b(
    kind: str, *text: str | dict[str, Any], children: list[dict[str, Any]] | None = None, **data: Any
) -> dict[str, Any]:
    """A block as the connector hands it over: Notion's object, its fetched children under ``CHILDREN``."""
    found = block_json(kind, {"rich_text": runs(*text), "color": "default", **data}, has_children=bool(children))
    return {**found, CHILDREN: children} if children else found


def test_rich_text_keeps_emphasis_code_and_links() -> None:
    text = runs(
        "Run ",
        rich_text("make install", code=True),
        " then read ",
        rich_text("the guide", bold=True, italic=True, link="https://docs.example.com/guide"),
        ", ",
        rich_text("not this", strikethrough=True),
        " and ",
        rich_text("this page", link="/0f6a1d2e3b4c"),
        ".",
    )
    assert rich_text_markdown(text) == (
        "Run `make install` then read [***the guide***](https://docs.example.com/guide), ~~not this~~ and "
        "[this page](https://www.notion.so/0f6a1d2e3b4c)\\."
    )


def test_runs_of_one_style_are_merged_and_edge_spaces_stay_outside() -> None:
    text = [rich_text("bold ", bold=True), rich_text("and more ", bold=True), rich_text("plain")]
    assert rich_text_markdown(text) == "**bold and more** plain"
    assert rich_text_markdown([rich_text(" padded ", italic=True)]) == "*padded*"
    assert rich_text_markdown([rich_text("a `tick`", code=True)]) == "`` a `tick` ``"


def test_plain_text_never_turns_into_syntax() -> None:
    tricky = "# not a heading\n1. not a list *nor emphasis* <b>nor html</b> {: .nor-attrs} &amp; ::: [^1]"
    document = load_markdown(
        page_markdown("C# & <T>", [b("paragraph", tricky)]).encode(), source_uri="u", fallback_title="f"
    )
    assert document.title == "C# & <T>"
    assert document.text == (
        "# C# & <T>\n\n\\# not a heading\n1. not a list *nor emphasis* <b>nor html</b> {: .nor-attrs} &amp; ::: [^1]\n"
    )
    assert escape_markdown("a_b*c") == "a\\_b\\*c"


def test_line_breaks_are_kept_in_paragraphs_and_dropped_where_they_cannot_be() -> None:
    assert rich_text_markdown(runs("one\ntwo\n\n")) == "one\\\ntwo"
    assert rich_text_markdown(runs("one\ntwo"), breaks=False) == "one two"
    assert blocks_markdown([b("heading_2", "Two\nlines")]) == "### Two lines"


def test_every_block_kind() -> None:
    blocks = [
        b("heading_1", "Install"),
        b("paragraph", "Intro", children=[b("paragraph", "Indented under it")]),
        b("bulleted_list_item", "one", children=[b("bulleted_list_item", "one.a"), b("bulleted_list_item", "one.b")]),
        b("bulleted_list_item", "two"),
        b("to_do", "done", checked=True),
        b("to_do", "open", checked=False),
        b("toggle", "Details", children=[b("paragraph", "Hidden until opened.")]),
        b("numbered_list_item", "first"),
        b("numbered_list_item", "second", children=[b("numbered_list_item", "inner")]),
        b("heading_3", "Notes"),
        b("quote", "Quoted\nover two lines"),
        b("callout", "Careful", icon={"type": "emoji", "emoji": "💡"}, children=[b("paragraph", "Really.")]),
        block_json("code", {"rich_text": runs("print('hi')\n```"), "language": "python", "caption": runs("A script")}),
        block_json("code", {"rich_text": runs("plain"), "language": "plain text", "caption": []}),
        block_json("divider", {}),
        {
            **block_json("table", {"table_width": 2, "has_column_header": True, "has_row_header": False}),
            CHILDREN: [
                block_json("table_row", {"cells": [runs("Name"), runs("Value")]}),
                block_json("table_row", {"cells": [runs("a|b"), [rich_text("x|y", code=True)]]}),
                block_json("table_row", {"cells": [runs("short row")]}),
            ],
        },
        block_json("child_page", {"title": "Sub page"}, block_id="0f6a1d2e-3b4c-4d5e-8f60-718293a4b5c6"),
        block_json("bookmark", {"url": "https://example.com/spec", "caption": []}),
        block_json("image", {"type": "external", "external": {"url": "https://example.com/a.png"}, "caption": []}),
        block_json("a_kind_notion_adds_later", {"whatever": 1}),
        {**b("column_list"), CHILDREN: [{**b("column"), CHILDREN: [b("paragraph", "In a column")]}]},
        b("paragraph"),
    ]
    assert blocks_markdown(blocks) == (
        "## Install\n\n"
        "Intro\n\n"
        "Indented under it\n\n"
        "- one\n  - one\\.a\n  - one\\.b\n- two\n- [x] done\n- [ ] open\n- Details\n\n  Hidden until opened\\.\n\n"
        "1. first\n2. second\n   1. inner\n\n"
        "#### Notes\n\n"
        "> Quoted\\\n> over two lines\n\n"
        "> 💡 Careful\n>\n> Really\\.\n\n"
        "````python\nprint('hi')\n```\n````\n\n"
        "A script\n\n"
        "```\nplain\n```\n\n"
        "---\n\n"
        "| Name | Value |\n| --- | --- |\n| a\\|b | `x\\|y` |\n| short row |  |\n\n"
        "[Sub page](https://www.notion.so/0f6a1d2e3b4c4d5e8f60718293a4b5c6)\n\n"
        "[https\\://example\\.com/spec](https://example.com/spec)\n\n"
        "In a column"
    )


def test_a_page_normalised_by_the_markdown_loader() -> None:
    markdown = page_markdown(
        "Runbook",
        [b("heading_1", "Steps"), b("numbered_list_item", "Drain"), b("numbered_list_item", "Restart")],
        properties=[("Status", "Done"), ("Owner", "Ana")],
    )
    document = load_markdown(markdown.encode(), source_uri="https://www.notion.so/x", fallback_title="x")
    assert (document.title, document.text) == (
        "Runbook",
        "# Runbook\n\n**Status:** Done\n**Owner:** Ana\n\n## Steps\n\n1. Drain\n2. Restart\n",
    )
    assert page_markdown("Empty", []) == "# Empty\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"type": "rich_text", "rich_text": runs("fast ", rich_text("path", bold=True))}, "fast **path**"),
        ({"type": "rich_text", "rich_text": []}, ""),
        ({"type": "number", "number": 42}, "42"),
        ({"type": "number", "number": None}, ""),
        ({"type": "select", "select": {"name": "High"}}, "High"),
        ({"type": "select", "select": None}, ""),
        ({"type": "status", "status": {"name": "In progress"}}, "In progress"),
        ({"type": "multi_select", "multi_select": [{"name": "ops"}, {"name": "db"}]}, "ops, db"),
        ({"type": "date", "date": {"start": "2025-03-01", "end": "2025-03-04"}}, "2025\\-03\\-01 → 2025\\-03\\-04"),
        ({"type": "checkbox", "checkbox": False}, "No"),
        ({"type": "url", "url": "https://example.com"}, "https\\://example\\.com"),
        ({"type": "people", "people": [{"object": "user", "id": "1", "name": "Ana"}, {"object": "user"}]}, "Ana"),
        ({"type": "unique_id", "unique_id": {"prefix": "OPS", "number": 7}}, "OPS\\-7"),
        ({"type": "formula", "formula": {"type": "number", "number": 3}}, "3"),
        ({"type": "formula", "formula": {"type": "boolean", "boolean": True}}, "Yes"),
        ({"type": "relation", "relation": [{"id": "x"}]}, ""),
        ({"type": "last_edited_time", "last_edited_time": "2025-01-01T00:00:00.000Z"}, ""),
    ],
)
def test_database_properties(value: dict[str, Any], expected: str) -> None:
    assert property_text(value) == expected
