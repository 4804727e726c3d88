"""A documentation answer as Slack receives it: the lead-in with its code block whole (no language line, no quote
markers), a relative link resolved to the published page, and the source linked to that page."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from bot.extract_note import EXTRACT_NOTE
from knowledge.published import PublishedSite
from knowledge.service import KnowledgeBase
from tests.fakes.slack_api import FakeSlack
from tests.integration.helpers.slack import answers, mention, post_event, slack, slack_app

__all__ = ["slack"]  # a fixture used below

GUIDE = """# Deployment

## Starting the server

Migrate the database, then start the web process (the [configuration reference](../reference/config.md#ports)
lists the ports) with these commands:

```bash
$ threadwise db upgrade

$ threadwise serve --port 8000 > serve.log 2>&1 &
```
"""


async def test_a_slack_answer_keeps_the_code_block_and_links_the_published_pages(
    database_url_text: str, slack: FakeSlack, kb: KnowledgeBase, tmp_path: Path
) -> None:
    team = f"T{uuid.uuid4().hex[:10].upper()}"
    root = tmp_path / "docs"
    (root / "guide").mkdir(parents=True)
    (root / "reference").mkdir()
    (root / "guide" / "deploy.md").write_text(GUIDE)
    (root / "reference" / "config.md").write_text("# Configuration\n\n## Ports\n\nThe web process listens on 8000.\n")
    site = PublishedSite.create(base="https://docs.example.com/tw", style="mkdocs")
    await kb.ingest([str(root)], tenant=team, collection="docs", site=site)

    async with slack_app(database_url_text, slack) as client:
        await post_event(client, mention(team, "how do I start the web server?"))
        (posted,) = await answers(slack)
    text = posted["text"]
    escaped = "$ threadwise serve --port 8000 &gt; serve.log 2&gt;&amp;1 &amp;"  # Slack's escaping, nothing else
    assert f"```\n$ threadwise db upgrade\n\n{escaped}\n```" in text
    assert "<https://docs.example.com/tw/reference/config/#ports|configuration reference>" in text
    assert "```bash" not in text and not re.search(r"^&gt; ", text, re.MULTILINE)
    blocks = str(posted["blocks"])
    assert "<https://docs.example.com/tw/guide/deploy/|" in blocks  # the source, linked to its page
    assert EXTRACT_NOTE in blocks
