"""The browser defences in a real headless Chromium: a page on another origin cannot frame the dashboard
(clickjacking), and the playground, the dashboard and the API docs all work under the Content-Security-Policy
without a single violation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.async_api import Page

from bot.web.app import create_app
from core.settings import load_settings
from tests.browser import chromium
from tests.integration.helpers.api import docs_tenant
from tests.integration.helpers.dashboard import seeded
from tests.integration.live_server import serving

__all__ = ["docs_tenant", "seeded"]  # fixtures used below

pytestmark = pytest.mark.slow  # in Chromium

# Violations as the page itself sees them (the console shows them too; both are checked).
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


class Watched:
    """A page with its console messages and CSP violations recorded from the first script on."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(message.text))
        page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    async def violations(self) -> list[str]:
        seen: list[str] = await self.page.evaluate("window.violations")
        return seen + [text for text in self.console if "Content Security Policy" in text]


@asynccontextmanager
async def watched_page() -> AsyncIterator[Watched]:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        await page.add_init_script(RECORD_VIOLATIONS)
        yield Watched(page)


def framing_site(target: str) -> FastAPI:
    """Another origin (127.0.0.1 on another port) that shows ``target`` in a frame."""
    site = FastAPI()

    @site.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse(f'<!doctype html><title>elsewhere</title><iframe id="victim" src="{target}"></iframe>')

    return site


async def test_another_origin_cannot_frame_the_dashboard(database_url_text: str, seeded: str) -> None:
    app = create_app(load_settings(database={"url": database_url_text}))
    async with serving(app) as base_url:
        target = f"{base_url}/admin?tenant={seeded}"
        async with serving(framing_site(target)) as elsewhere, watched_page() as watched:
            await watched.page.goto(elsewhere)
            frame = watched.page.frame_locator("#victim")
            # A blocked frame holds Chromium's error page: no dashboard, no ✅ verify button to click.
            dashboard_shown = await frame.locator("text=Threadwise dashboard").count()
            buttons = await frame.locator("button.verify").count()
            frame_urls = [f.url for f in watched.page.frames]
    assert dashboard_shown == 0 and buttons == 0, frame_urls
    assert any("frame-ancestors 'none'" in text or "X-Frame-Options" in text for text in watched.console), (
        watched.console
    )


async def test_the_playground_answers_under_the_policy(
    database_url_text: str, docs_tenant: str, tmp_path: Path
) -> None:
    settings = load_settings(database={"url": database_url_text}, agent={"min_similarity": 0.25})
    async with serving(create_app(settings)) as base_url, watched_page() as watched:
        page = watched.page
        await page.goto(f"{base_url}/?tenant={docs_tenant}")
        assert await page.inner_text("#tenant") == docs_tenant  # the script ran
        await page.fill("#question", "How do I rotate the signing key?")
        await page.press("#question", "Enter")
        await page.wait_for_selector(".sources li", timeout=30_000)
        answer = await page.inner_text(".answer")
        styled = await page.evaluate("getComputedStyle(document.querySelector('.answer')).borderRadius")
        await page.screenshot(path=tmp_path / "playground-csp.png", full_page=True)
        violations = await watched.violations()
    assert "Rotate" in answer
    assert styled == "8px"  # playground.css applied
    assert violations == [], violations
    assert not [text for text in watched.console if text.startswith("page error")], watched.console


async def test_the_dashboard_renders_and_verifies_under_the_policy(
    database_url_text: str, seeded: str, tmp_path: Path
) -> None:
    app = create_app(load_settings(database={"url": database_url_text}))
    async with serving(app) as base_url, watched_page() as watched:
        page = watched.page
        await page.goto(f"{base_url}/admin?tenant={seeded}")
        colours = await page.evaluate(
            """() => ({
              answered: getComputedStyle(document.querySelector('.outcome-answered')).backgroundColor,
              legend: getComputedStyle(document.querySelector('.legend i.outcome-error')).backgroundColor,
              card: getComputedStyle(document.querySelector('.card')).borderRadius,
            })"""
        )
        await page.screenshot(path=tmp_path / "admin-csp.png", full_page=True)
        # The ✅ button's form post is same-origin: it must still pass the dashboard's Origin check.
        await page.locator("button.verify", has_text="verify").first.click()
        await page.wait_for_selector("button.verify:has-text('undo')", timeout=30_000)
        violations = await watched.violations()
    assert colours == {"answered": "rgb(46, 133, 64)", "legend": "rgb(215, 43, 63)", "card": "8px"}
    assert violations == [], violations


async def test_swagger_ui_renders_under_the_policy(database_url_text: str, tmp_path: Path) -> None:
    app = create_app(load_settings(database={"url": database_url_text}))
    async with serving(app) as base_url, watched_page() as watched:
        page = watched.page
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        await page.goto(f"{base_url}/docs")
        await page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/ask']", timeout=30_000)
        await page.screenshot(path=tmp_path / "docs-csp.png")
        violations = await watched.violations()
    assert violations == [], violations
    assert requested and all(url.startswith(base_url) or url.startswith("data:") for url in requested), requested
