"""Liveness and readiness probes for load balancers and Kubernetes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bot.web.dependencies import EngineDep
from core.health import database_checks

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    reason: str | None = None
    checks: dict[str, str]


@router.get("/healthz", response_model=Liveness)
async def healthz() -> Liveness:
    """The process is up and serving HTTP."""
    return Liveness(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(engine: EngineDep) -> JSONResponse:
    """Ready to answer: database reachable, pgvector present, migrations at head. 503 with the reason otherwise."""
    checks = await database_checks(engine, timeout=3.0)
    failed = [check for check in checks if not check.ok]
    body = Readiness(
        status="unavailable" if failed else "ready",
        reason=f"{failed[0].name}: {failed[0].detail}" if failed else None,
        checks={check.name: check.detail for check in checks},
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=503 if failed else 200)
