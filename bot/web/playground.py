"""``GET /``: the playground, a chat page on the ``local`` tenant for trying Threadwise without Slack or Discord.

One static page, no build step: it asks through ``POST /api/v1/ask`` (streamed) and votes through
``POST /api/v1/feedback``, so it exercises the same agent, memory and feedback as the chat platforms. The final
answer and its sources' excerpts are shown as HTML from ``POST /playground/render``: the public API's replies stay
as they are.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from agent.models import Outcome
from agent.schemas import AnswerReply
from bot.extract_note import extract_note
from bot.web.auth import require_principal
from bot.web.markdown_html import to_html

MAX_RENDER_CHARS = 50_000
"""Far more than any answer; the route's body limit (64 KiB) caps it anyway."""
MAX_EXCERPTS = 20
MAX_EXCERPT_CHARS = 2_000
"""An excerpt is about 300 characters (``agent.nodes``); these are generous caps for what a caller sends."""

router = APIRouter(tags=["playground"])


@cache
def _page() -> str:
    return files("bot.web").joinpath("static/playground.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def playground() -> HTMLResponse:
    # The page holds no data; the API calls it makes ask for ADMIN_TOKEN when one is set.
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


class RenderBody(BaseModel):
    text: str = Field(max_length=MAX_RENDER_CHARS)
    outcome: Outcome = "answered"
    extractive: bool = False
    excerpts: list[Annotated[str, Field(max_length=MAX_EXCERPT_CHARS)]] = Field(
        default_factory=list, max_length=MAX_EXCERPTS
    )
    """The sources' excerpts, which are Markdown cut from documents like the answer."""


class Rendered(BaseModel):
    html: str
    """Sanitised: no raw HTML, no script links (see :mod:`bot.web.markdown_html`)."""
    note: str | None
    """What to say under an extract (see :mod:`bot.extract_note`)."""
    excerpts: list[str]
    """Each excerpt as HTML, sanitised the same way, in the order given."""


@router.post("/playground/render", include_in_schema=False, dependencies=[Depends(require_principal)])
async def render(body: RenderBody) -> Rendered:
    # Asks for the same token as the API the page uses: it reads and stores nothing, but costs CPU, and anything
    # open to everyone is one more thing to guard. It answers JSON, never a page the text could run in.
    reply = AnswerReply(text=body.text, outcome=body.outcome, extractive=body.extractive)
    return Rendered(
        html=to_html(body.text),
        note=extract_note(reply),
        excerpts=[to_html(excerpt) for excerpt in body.excerpts],
    )
