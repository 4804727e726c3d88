"""``GET /admin``: the dashboard (last 7 or 30 days), rendered on the server from ``agent.reports`` and
``agent.gaps``. ``ADMIN_TOKEN`` guards it (a browser asks for it as the password of a login prompt); without
a token it is open, which only the local embedded mode allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from agent.gaps import knowledge_gaps
from agent.reports import overview
from agent.service import AgentService
from bot.web.auth import require_admin_login
from bot.web.charts import OUTCOME_COLOURS, questions_per_day

WINDOWS = (7, 30)
GAP_GROUPS_SHOWN = 15

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_login)])
templates = Jinja2Templates(
    env=Environment(loader=PackageLoader("bot.web", "templates"), autoescape=select_autoescape(), auto_reload=False)
)


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request,
    days: Annotated[int, Query(ge=1, le=365, description="The window: the last N days (today included).")] = 7,
    tenant: Annotated[str | None, Query(max_length=200, description="One tenant only.")] = None,
) -> HTMLResponse:
    agent: AgentService = request.state.agent
    sessionmaker = agent.store.sessionmaker
    today = datetime.now(UTC)
    since = (today - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    figures = await overview(sessionmaker, since=since, until=today.date(), tenant=tenant or None)
    gaps = await knowledge_gaps(sessionmaker, agent.context.knowledge.embedder, since=since, tenant=tenant or None)
    return templates.TemplateResponse(
        request,
        "admin.html",
        {
            "figures": figures,
            "gaps": gaps[:GAP_GROUPS_SHOWN],
            "gap_groups": len(gaps),
            "days": days,
            "windows": WINDOWS,
            "tenant": tenant or "",
            "chart": questions_per_day(figures.days),
            "colours": OUTCOME_COLOURS,
            "generated_at": today,
        },
        headers={"Cache-Control": "no-store"},
    )
