"""Every chat surface links a source to its published page when one is known, else shows where it came from."""

from __future__ import annotations

from dataclasses import replace

from agent.nodes import to_source
from bot.discord.formatting import source_line as discord_line
from bot.slack.formatting import source_line as slack_line
from knowledge.search import SearchHit
from tests.sources import source

PUBLISHED = source(1, "handbook/install.md").model_copy(update={"url": "https://docs.test/install/"})


def test_slack_links_the_published_page() -> None:
    assert slack_line(PUBLISHED) == "[1] <https://docs.test/install/|Guide › Install>"
    assert slack_line(source(2, "handbook/install.md")) == "[2] Guide › Install (handbook/install.md)"


def test_discord_links_the_published_page() -> None:
    assert discord_line(PUBLISHED) == "[1] [Guide › Install](https://docs.test/install/)"
    assert discord_line(source(2, "handbook/install.md")) == "[2] Guide › Install (handbook/install.md)"


def test_a_published_url_that_is_not_a_web_address_is_never_a_link() -> None:
    odd = PUBLISHED.model_copy(update={"url": "javascript:alert(1)"})
    assert "<javascript" not in slack_line(odd) and "](javascript" not in discord_line(odd)


def test_the_agent_passes_the_published_url_on() -> None:
    hit = SearchHit(1, 2, "docs", "Guide", "Guide › Install", "handbook/install.md", "Install it.", 0.5, 0.8, 1, 1)
    assert to_source(1, hit, "install").url is None
    assert to_source(1, replace(hit, url="https://docs.test/install/"), "install").url == "https://docs.test/install/"
