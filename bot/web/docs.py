"""``GET /docs`` (Swagger UI) and ``GET /openapi.json``, for the operator only (``ADMIN_TOKEN``).

FastAPI's own pages are switched off: they are open to anyone and load Swagger UI from a CDN with an inline
script, which the Content-Security-Policy forbids. These load it from ``/static/swagger-ui`` instead.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from bot.web.assets import STATIC_DIR
from bot.web.auth import require_operator, require_operator_login

router = APIRouter(include_in_schema=False)


@cache
def _page() -> str:
    return (STATIC_DIR / "docs.html").read_text(encoding="utf-8")


# A browser opens the page: a 401 there brings up its login prompt, whose credentials it then also sends with
# Swagger UI's request for the schema.
@router.get("/docs", response_class=HTMLResponse, dependencies=[Depends(require_operator_login)])
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/openapi.json", dependencies=[Depends(require_operator)])
async def openapi_schema(request: Request) -> JSONResponse:
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)
