"""``GET /``: the playground, a chat page on the ``local`` tenant for trying Threadwise without Slack or Discord.

One static page, no build step: it asks through ``POST /api/v1/ask`` (streamed) and votes through
``POST /api/v1/feedback``, so it exercises the same agent, memory and feedback as the chat platforms.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["playground"])


@cache
def _page() -> str:
    return files("bot.web").joinpath("static/playground.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def playground() -> HTMLResponse:
    # The page holds no data; the API calls it makes ask for ADMIN_TOKEN when one is set.
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})
