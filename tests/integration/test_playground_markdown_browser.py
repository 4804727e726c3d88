"""The playground shows a final answer as sanitised HTML, in a real headless Chromium: code whole in
``<pre><code>``, lists and links as such, and nothing from a document able to run in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from bot.extract_note import EXTRACT_NOTE
from bot.web.app import create_app
from core.settings import load_settings
from knowledge.service import KnowledgeBase
from tests.browser import chromium
from tests.fakes.openai_server import Reply, scripted_llm
from tests.integration.helpers.api import docs_tenant
from tests.integration.live_server import serving

__all__ = ["docs_tenant"]  # a fixture used below

pytestmark = pytest.mark.slow  # in Chromium

CODE = "$ threadwise keys rotate --now\n\n$ threadwise keys list\n"
ANSWER = (
    "Rotate the key from the command line [1]:\n\n"
    f"```bash\n{CODE}```\n\n"
    "- old tokens stop working after one hour\n- new tokens work at once [1]\n\n"
    "See [the security guide](https://docs.test/security)."
)
EVIL = (
    "To rotate the signing key, run the rotate script from the admin console. "
    '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> '
    "[x](javascript:window.__pwned=1)"
)

READ_ANSWER = """() => {
  const box = document.querySelector(".answer");
  const code = box.querySelector("pre > code");
  return {
    code: code && code.textContent,
    items: [...box.querySelectorAll("ul > li")].map((li) => li.textContent),
    links: [...box.querySelectorAll("a")].map((a) => ({ href: a.getAttribute("href"), rel: a.rel, target: a.target })),
    scripts: box.querySelectorAll("script").length,
    images: box.querySelectorAll("img").length,
    text: box.textContent,
    meta: document.querySelector(".meta span").textContent,
    pwned: window.__pwned,
    whiteSpace: code && getComputedStyle(code.parentElement).whiteSpace,
    overflowX: code && getComputedStyle(code.parentElement).overflowX,
  };
}"""


READ_EXCERPT = """() => {
  const box = document.querySelector(".sources .excerpt");
  return {
    rendered: box.classList.contains("rendered"),
    code: [...box.querySelectorAll("code")].map((code) => code.textContent),
    strong: [...box.querySelectorAll("strong")].map((strong) => strong.textContent),
    text: box.textContent,
    scripts: box.querySelectorAll("script").length,
  };
}"""


async def _ask(page: Page, base_url: str, tenant: str) -> dict[str, Any]:
    await page.goto(f"{base_url}/?tenant={tenant}")
    await page.fill("#question", "How do I rotate the signing key?")
    await page.press("#question", "Enter")
    await page.wait_for_selector(".answer.rendered", timeout=30_000)
    shown: dict[str, Any] = await page.evaluate(READ_ANSWER)
    return shown


async def test_a_final_answer_shows_code_lists_and_links(
    database_url_text: str, docs_tenant: str, tmp_path: Path
) -> None:
    with scripted_llm(Reply(ANSWER)) as llm:
        settings = load_settings(
            database={"url": database_url_text},
            agent={"min_similarity": 0.25},
            llm={"model": "openai:primary", "base_url": llm.base_url},
        )
        async with serving(create_app(settings)) as base_url, chromium() as browser:
            page = await browser.new_page()
            shown = await _ask(page, base_url, docs_tenant)
            await page.screenshot(path=tmp_path / "markdown.png", full_page=True)

    assert shown["code"] == CODE  # blank line and prompts kept, nothing flattened
    assert (shown["whiteSpace"], shown["overflowX"]) == ("pre", "auto")
    assert shown["items"] == ["old tokens stop working after one hour", "new tokens work at once [1]"]
    assert shown["links"] == [
        {"href": "https://docs.test/security", "rel": "noopener noreferrer nofollow", "target": "_blank"}
    ]
    assert "```" not in shown["text"] and EXTRACT_NOTE not in shown["meta"]  # a model's answer: no note


async def test_markup_in_an_answer_does_not_run(database_url_text: str, docs_tenant: str) -> None:
    # Ingesting strips a document's HTML and script links; a model can still be talked into writing them.
    with scripted_llm(Reply(EVIL + " [1]")) as llm:
        settings = load_settings(
            database={"url": database_url_text},
            agent={"min_similarity": 0.25},
            llm={"model": "openai:primary", "base_url": llm.base_url},
        )
        async with serving(create_app(settings)) as base_url, chromium() as browser:
            page = await browser.new_page()
            shown = await _ask(page, base_url, docs_tenant)

    assert '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1">' in shown["text"]  # as text
    assert shown["pwned"] is None
    assert shown["scripts"] == 0 and shown["images"] == 0
    assert shown["links"] == [] and "[x](javascript:window.__pwned=1)" in shown["text"]


async def test_an_extract_says_so_once_under_the_answer(database_url_text: str, docs_tenant: str) -> None:
    settings = load_settings(database={"url": database_url_text}, agent={"min_similarity": 0.25})  # no model
    async with serving(create_app(settings)) as base_url, chromium() as browser:
        page = await browser.new_page()
        shown = await _ask(page, base_url, docs_tenant)

    assert "press Rotate" in shown["text"] and EXTRACT_NOTE not in shown["text"]
    assert shown["meta"].startswith(EXTRACT_NOTE + " · ")


DEPLOY_DOC = """# Deployment

## Starting the server

Start the **server** with these two `threadwise` commands, from the folder you installed into:

```bash
$ threadwise db upgrade

$ threadwise serve --port 8000
```

Check these before you open it to the team:

- the admin token is set
- the allowed hosts list your domain

<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1">
"""


async def test_an_extract_from_a_document_shows_its_code_and_list_and_runs_nothing(
    database_url_text: str, kb: KnowledgeBase, tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "deploy.md").write_text(DEPLOY_DOC)
    await kb.ingest([str(tmp_path / "deploy.md")], tenant=tenant, collection="docs")
    settings = load_settings(database={"url": database_url_text})  # no model: the default extractive answers
    async with serving(create_app(settings)) as base_url, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base_url}/?tenant={tenant}")
        await page.fill("#question", "How do I start the server?")
        await page.press("#question", "Enter")
        await page.wait_for_selector(".answer.rendered", timeout=30_000)
        shown: dict[str, Any] = await page.evaluate(READ_ANSWER)
        excerpt: dict[str, Any] = await page.evaluate(READ_EXCERPT)
        await page.fill("#question", "What should I check before opening it to the team?")
        await page.press("#question", "Enter")
        await page.locator(".answer.rendered").nth(1).wait_for(timeout=30_000)
        items = await page.evaluate(
            "[...document.querySelectorAll('.answer')[1].querySelectorAll('ul > li')].map((li) => li.textContent)"
        )
        pwned = await page.evaluate("window.__pwned")
    assert shown["code"] == "$ threadwise db upgrade\n\n$ threadwise serve --port 8000\n"
    assert "Start the server with these two threadwise commands" in shown["text"]
    assert shown["scripts"] == 0 and shown["images"] == 0 and shown["pwned"] is None
    assert items == ["the admin token is set", "the allowed hosts list your domain"]
    assert pwned is None
    # The source's excerpt is rendered too: no Markdown markers left.
    assert excerpt["rendered"] and excerpt["code"] == ["threadwise"] and excerpt["strong"] == ["server"], excerpt
    assert "`" not in excerpt["text"] and "**" not in excerpt["text"] and excerpt["scripts"] == 0
