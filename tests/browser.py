"""Headless Chromium for the browser tests, driven by Playwright (Debian's ``chromium``; never a download).

``TEST_BROWSER`` names the binary (CI installs it with ``.ci/chromium.sh`` and sets it: a missing browser then
fails); otherwise ``chromium`` on the PATH is used, and without one the browser tests are skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, async_playwright

REQUIRED_BROWSER = os.environ.get("TEST_BROWSER") or None
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str:
    if REQUIRED_BROWSER is not None:
        if not os.access(REQUIRED_BROWSER, os.X_OK):
            pytest.fail(f"TEST_BROWSER={REQUIRED_BROWSER} is not an executable browser")
        return REQUIRED_BROWSER
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("no Chromium: install the Debian package 'chromium' (CI does, see .ci/chromium.sh)")
    return found


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()
