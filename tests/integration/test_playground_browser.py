"""The playground in a real headless Chromium: ask, watch the answer stream in with its sources, vote 👍, and
find the vote in the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.models import Feedback, Message
from bot.web.app import create_app
from core.settings import load_settings
from tests.browser import chromium
from tests.fakes.openai_server import Reply, scripted_llm
from tests.integration.helpers.api import docs_tenant
from tests.integration.live_server import serving

__all__ = ["docs_tenant"]  # a fixture used below

pytestmark = pytest.mark.slow  # in Chromium

ANSWER = "Open the admin console, choose Security, and press Rotate [1]. Old tokens stop working after one hour [1]."

# Every text the answer box shows, in order: proof that the answer arrived in pieces.
RECORD_ANSWER_TEXTS = """() => {
  window.answerTexts = [];
  new MutationObserver(() => {
    const box = document.querySelector(".answer");
    if (box && box.textContent !== window.answerTexts.at(-1)) window.answerTexts.push(box.textContent);
  }).observe(document.getElementById("log"), { childList: true, subtree: true, characterData: true });
}"""


async def test_ask_stream_sources_and_vote_in_the_browser(
    database_url_text: str, docs_tenant: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    with scripted_llm(Reply(ANSWER, pause=0.05)) as llm:  # pieces 50 ms apart render apart
        settings = load_settings(
            database={"url": database_url_text},
            agent={"min_similarity": 0.25},
            llm={"model": "openai:primary", "base_url": llm.base_url},
        )
        async with serving(create_app(settings)) as base_url, chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base_url}/?tenant={docs_tenant}")
            assert await page.inner_text("#tenant") == docs_tenant
            await page.evaluate(RECORD_ANSWER_TEXTS)

            await page.fill("#question", "How do I rotate the signing key?")
            await page.press("#question", "Enter")
            await page.wait_for_selector(".sources li", timeout=30_000)

            answer = await page.inner_text(".answer")
            streamed: list[str] = await page.evaluate("window.answerTexts")
            sources = await page.locator(".sources li").all_inner_texts()
            await page.click("button.vote[title='Helpful']")
            await page.wait_for_selector("button.vote[title='Helpful'][aria-pressed='true']", timeout=10_000)
            await page.screenshot(path=tmp_path / "playground.png", full_page=True)

    assert answer == ANSWER
    assert len(streamed) > 3 and streamed[-1] == ANSWER  # pieces, then the whole
    assert len(sources) == 1 and "Rotate the signing key" in sources[0]
    assert (tmp_path / "playground.png").stat().st_size > 10_000
    async with engine.connect() as connection:
        votes = (
            await connection.execute(
                select(Feedback.user_id, Feedback.score, Message.content)
                .join(Message, Message.id == Feedback.message_id)
                .where(Message.content == ANSWER)
            )
        ).all()
    assert len(votes) == 1
    user_id, score, _ = votes[0]
    assert score == 1 and user_id.startswith("playground-")
