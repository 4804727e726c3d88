"""Request body limits per route, enforced before anything reads the body.

FastAPI parses a JSON body before it runs any dependency, authentication included: without a limit, anyone
could make the server hold a body of any size in memory just to be told 401. A declared ``Content-Length`` over
the limit is refused at once; a body sent in chunks is counted as it arrives and refused when it passes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.web.problems import problem, problem_response

KIB = 1024

BODY_LIMITS: Sequence[tuple[str, int]] = (
    # Slack's event and interaction payloads are a few kB.
    ("/slack/", 1024 * KIB),
    # A question and a comment of 4,000 characters each, even written as JSON \u escapes, with room to spare.
    ("/api/", 128 * KIB),
    # The dashboard's buttons post nothing but their form fields.
    ("/admin", 16 * KIB),
)
DEFAULT_LIMIT = 64 * KIB
"""Every other route (none of them takes a body today)."""


def body_limit(path: str) -> int:
    for prefix, limit in BODY_LIMITS:
        if path.startswith(prefix):
            return limit
    return DEFAULT_LIMIT


def _detail(limit: int) -> str:
    return f"the request body is larger than this route accepts ({limit} bytes)"


class BodyLimitMiddleware:
    """Pure ASGI middleware: a body over its route's limit gets a 413 problem; nothing past it is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await problem_response(problem(413, _detail(limit)))(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised where the route reads its body: FastAPI passes an HTTPException through its body
                    # parsing (any other error there becomes a 400), and the app's problem handler answers it.
                    raise HTTPException(413, detail=_detail(limit))
            return message

        await self.app(scope, counting_receive, send)
