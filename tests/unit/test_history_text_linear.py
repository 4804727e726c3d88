"""What the connectors make of text from outside (a Discord message, a Notion page, a Confluence body, a Slack
question) costs time linear in its length: a hostile message must not stall a sync. Each case below took seconds to
minutes with the patterns these functions replaced (a 4,000-character Discord line: 47 s)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.discord.history_text import readable_text
from bot.slack.history_text import headline
from knowledge.sources.confluence_storage import storage_document
from knowledge.sources.notion_blocks import rich_text_markdown
from tests.linear_time import assert_linear

HOSTILE: list[tuple[str, Callable[[int], object]]] = [
    ("discord heading with a long run of spaces", lambda n: readable_text({"content": "# a" + " " * n + "b"})),
    ("notion text with a long inner run of spaces", lambda n: rich_text_markdown([_notion("a" + " " * n + "b")])),
    ("confluence body of unclosed CDATA", lambda n: storage_document("<![CDATA[" * (n // 9), url="u", title="t")),
    ("slack question of unclosed links", lambda n: headline("[a](" * (n // 4))),
]


def _notion(text: str) -> dict[str, object]:
    return {"type": "text", "plain_text": text, "text": {"content": text}, "annotations": {}, "href": None}


@pytest.mark.parametrize(("case", "work"), HOSTILE, ids=[case for case, _ in HOSTILE])
def test_hostile_text_is_read_in_linear_time(case: str, work: Callable[[int], object]) -> None:
    assert_linear(work, 50_000, label=case)
