"""``GET /admin``: the dashboard (last 7 or 30 days), rendered on the server from ``agent.reports`` and
``agent.gaps``. ``ADMIN_TOKEN`` guards it (a browser asks for it as the password of a login prompt); without
a token it is open, which only the local embedded mode allows. A tenant's ``admin`` API key, given as that
password, opens it too, but shows and changes that tenant's rows only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from agent.gaps import EXAMPLES_SHOWN, knowledge_gaps
from agent.reports import answer_tenant, overview
from agent.schemas import MAX_ID, StorableText
from agent.verified import NotVerifiableError, VerifiedAnswers
from bot.access.keys import KEY_START
from bot.web.auth import AdminLoginDep, require_admin_login, tenant_filter
from bot.web.charts import OUTCOME_COLOURS, questions_per_day
from bot.web.dependencies import AgentDep, GapVectorsDep, SourcesDep
from core.logging import get_logger
from knowledge.errors import KnowledgeError
from knowledge.sources.service import Sources
from knowledge.sources.sync import SourceBusy

log = get_logger(__name__)

WINDOWS = (7, 30)
GAP_GROUPS_SHOWN = 15

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_login)])
templates = Jinja2Templates(
    env=Environment(loader=PackageLoader("bot.web", "templates"), autoescape=select_autoescape(), auto_reload=False)
)


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request,
    principal: AdminLoginDep,
    agent: AgentDep,
    vectors: GapVectorsDep,
    sources: SourcesDep,
    days: Annotated[int, Query(ge=1, le=365, description="The window: the last N days (today included).")] = 7,
    tenant: Annotated[StorableText | None, Query(max_length=200, description="One tenant only.")] = None,
) -> HTMLResponse:
    tenant = tenant_filter(principal, tenant or None)
    sessionmaker = agent.store.sessionmaker
    today = datetime.now(UTC)
    since = (today - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    figures = await overview(sessionmaker, since=since, until=today.date(), tenant=tenant)
    gaps = await knowledge_gaps(sessionmaker, vectors, since=since, tenant=tenant)
    synced = await sources.statuses(tenant=tenant)
    return templates.TemplateResponse(
        request,
        "admin.html",
        {
            "figures": figures,
            "gaps": gaps[:GAP_GROUPS_SHOWN],
            "gap_groups": len(gaps),
            "sources": synced,
            "examples_shown": EXAMPLES_SHOWN,
            "days": days,
            "windows": WINDOWS,
            "tenant": tenant or "",
            "chart": questions_per_day(figures.days),
            "colours": OUTCOME_COLOURS,
            "generated_at": today,
        },
        headers={"Cache-Control": "no-store"},
    )


def _same_origin(request: Request) -> None:
    """The dashboard's buttons post forms; with the browser's saved login, a page elsewhere could post them too.
    Only requests whose Origin (or Referer) is this server go through."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None or urlsplit(source).netloc != request.url.netloc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the dashboard's buttons only work from the dashboard")


def _back(days: int, tenant: str | None, *, section: str = "recent") -> RedirectResponse:
    query = urlencode({"days": days} | ({"tenant": tenant} if tenant else {}))
    return RedirectResponse(f"/admin?{query}#{section}", status_code=status.HTTP_303_SEE_OTHER)


_syncs_started: set[asyncio.Task[object]] = set()
"""Syncs started from the dashboard, held until they end (a task nothing refers to may be collected)."""


@router.post("/admin/sources/{name}/sync", include_in_schema=False, dependencies=[Depends(_same_origin)])
async def sync_source_now(
    principal: AdminLoginDep,
    sources: SourcesDep,
    name: Annotated[StorableText, Path(max_length=200)],
    tenant: Annotated[StorableText, Query(max_length=200)],
    days: Annotated[int, Query(ge=1, le=365)] = 7,
) -> RedirectResponse:
    """The dashboard's "sync now": the run starts in the background (a site may take minutes); the list shows it
    running, then its outcome."""
    own = tenant_filter(principal, tenant)
    if own is not None and own != tenant:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no source {name} in tenant {tenant}")
    try:
        await sources.get(tenant=tenant, name=name)
    except KnowledgeError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    task = asyncio.create_task(_sync_quietly(sources, tenant=tenant, name=name), name=f"threadwise-sync-{name}")
    _syncs_started.add(task)
    task.add_done_callback(_syncs_started.discard)
    return _back(days, tenant if own is not None else None, section="sources")


async def _sync_quietly(sources: Sources, *, tenant: str, name: str) -> object:
    """A failed run is recorded on the source; one already under way is left to finish."""
    try:
        return await sources.sync(tenant=tenant, name=name)
    except SourceBusy:
        return None
    except Exception as error:
        log.error("dashboard sync failed", tenant=tenant, source=name, exc_info=error)
        return None


@router.post("/admin/answers/{answer_id}/{action}", include_in_schema=False, dependencies=[Depends(_same_origin)])
async def verify_answer(
    principal: AdminLoginDep,
    agent: AgentDep,
    answer_id: Annotated[int, Path(gt=0, le=MAX_ID)],
    action: Literal["verify", "unverify"],
    days: Annotated[int, Query(ge=1, le=365)] = 7,
    tenant: Annotated[StorableText | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """The dashboard's ✅ button: save an answer as a verified answer, or take that back."""
    tenant = tenant_filter(principal, tenant or None)
    if not principal.is_operator and await answer_tenant(agent.store.sessionmaker, answer_id=answer_id) != tenant:
        # A key learns nothing of other tenants' answers: the same 404 as for an id that was never used.
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no answer {answer_id} in tenant {tenant}")
    verified = VerifiedAnswers(agent.context.knowledge, agent.store.sessionmaker)
    by = "dashboard" if principal.key_prefix is None else f"dashboard:{KEY_START}{principal.key_prefix}"
    try:
        if action == "verify":
            await verified.verify(answer_id, verified_by=by, tenant=tenant)
        else:
            await verified.unverify(answer_id, tenant=tenant)
    except NotVerifiableError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    return _back(days, tenant)
