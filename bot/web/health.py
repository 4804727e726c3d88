"""Liveness and readiness probes for load balancers and Kubernetes."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from bot.web.auth import require_operator
from bot.web.dependencies import EngineDep
from bot.web.trusted_hosts import HOST_TRUSTED
from core.health import database_checks

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    reason: str | None = None
    """What failed, and ``checks`` what was found (server versions among it): for the operator only."""
    checks: dict[str, str] | None = None


async def _is_operator(request: Request) -> bool:
    try:
        await require_operator(request)
    except (HTTPException, SQLAlchemyError, OSError, TimeoutError):  # a key looked up while the database is down
        return False
    return True


@router.get("/healthz", response_model=Liveness)
async def healthz() -> Liveness:
    """The process is up and serving HTTP."""
    return Liveness(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(request: Request, engine: EngineDep) -> JSONResponse:
    """Ready to answer: database reachable, pgvector present, migrations at head. 503 otherwise. The reason and
    the checks (versions included) only for the operator (``ADMIN_TOKEN`` as a bearer token; anyone in the open
    local mode): they would help an attacker too."""
    checks = await database_checks(engine, timeout=3.0)
    failed = [check for check in checks if not check.ok]
    body = Readiness(status="unavailable" if failed else "ready")
    if getattr(request.state, HOST_TRUSTED, False) and await _is_operator(request):
        body.reason = f"{failed[0].name}: {failed[0].detail}" if failed else None
        body.checks = {check.name: check.detail for check in checks}
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if failed else 200)
