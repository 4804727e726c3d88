"""Every error the web app sends is an RFC 9457 problem (``application/problem+json``): what was wrong, never the
values sent nor the server's internals. Unexpected failures get a 500 with a reference id an operator can find
in the log (and in Sentry)."""

from __future__ import annotations

import http
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logging import get_logger
from core.sentry import report_failure

log = get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class ProblemError(BaseModel):
    loc: list[str | int]
    """Where: ``["body", "question"]``."""
    msg: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None
    """What failed validation (on a 422)."""
    reference_id: str | None = None
    """What to quote to an operator (on a 500)."""


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(status: int, detail: str, **extra: Any) -> Problem:
    """A problem titled with the status's standard phrase."""
    return Problem(title=http.HTTPStatus(status).phrase, status=status, detail=detail, **extra)


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> ProblemResponse:
    return ProblemResponse(problem.model_dump(exclude_none=True), status_code=problem.status, headers=headers)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body cannot be read (not UTF-8, for one)."},
    401: {"model": Problem, "description": "No token, or the wrong one (when ADMIN_TOKEN is set)."},
    403: {"model": Problem, "description": "The token may not do this (another tenant, or not its scope)."},
    422: {"model": Problem, "description": "The request is not valid; `errors` says where and why."},
    500: {"model": Problem, "description": "An unexpected failure; `reference_id` ties it to the log."},
}
"""For a router's ``responses=``: the problems it can send (served as ``application/problem+json``)."""


def _message(error: dict[str, Any]) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


async def _invalid_request(request: Request, error: Exception) -> Response:
    if not isinstance(error, RequestValidationError):  # registered for it only; narrows the type
        raise error
    # Only where and why: pydantic's `input` and `ctx` would echo what was sent back (tokens, private text).
    errors = [ProblemError(loc=list(e["loc"]), msg=_message(e)) for e in error.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors[:3])
    if len(errors) > 3:
        detail += f"; and {len(errors) - 3} more"
    return problem_response(problem(422, detail or "the request is not valid", errors=errors))


async def _http_error(request: Request, error: Exception) -> Response:
    if not isinstance(error, StarletteHTTPException):
        raise error
    if error.status_code in (204, 304):  # no body allowed
        return Response(status_code=error.status_code, headers=error.headers)
    phrase = http.HTTPStatus(error.status_code).phrase
    detail = error.detail if isinstance(error.detail, str) else phrase
    return problem_response(problem(error.status_code, detail), headers=error.headers)


class UnexpectedErrorMiddleware:
    """The last resort: an exception no handler took becomes a 500 problem with a reference id, logged once with
    it. Pure ASGI and inside the request-id middleware, so the log line and the response carry the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started:  # too late for a problem response; the server closes the connection
                raise
            reference = report_failure(error)
            log.exception("request failed", reference_id=reference, path=scope.get("path"))
            detail = f"an unexpected error; quote reference {reference} to the operator"
            await problem_response(problem(500, detail, reference_id=reference))(scope, receive, send)


def _document_problems(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI documents every extra response under the route's media type; ours are problem+json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # cached by FastAPI in app.openapi_schema: rewritten once
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if content.get("application/json", {}).get("schema") == _PROBLEM_REF:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        return schema

    return openapi


def install_problem_handlers(app: FastAPI) -> None:
    """Call before adding the request-id middleware (the last added runs first), so that one wraps this one."""
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.openapi = _document_problems(app)  # type: ignore[method-assign]
