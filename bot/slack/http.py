"""``POST /slack/events``: Slack's Events API, slash commands and interactivity over HTTP; and, with OAuth installs,
``GET /slack/install`` and ``/slack/oauth_redirect``.

The body is read up to the route's cap (``bot/web/body_limits.py``), its signature checked over the raw bytes,
and only then parsed and handed to the Bolt app: an unauthenticated sender gets a 4xx and never reaches a
listener, the error handler or a log line that quotes what it sent.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response

from bot.slack.verification import VERIFIED, refusal
from bot.web.dependencies import SettingsDep, SlackHandlerDep
from bot.web.problems import problem, problem_response

router = APIRouter(tags=["slack"])


def _refused(status: int, detail: str) -> Response:
    return problem_response(problem(status, detail))


def _unreadable(text: str, content_type: str) -> str | None:
    """Why Bolt could not read this body (``None`` when it can), parsed as Bolt parses it."""
    if not text:
        return None
    try:
        parsed: Any
        if content_type == "application/json" or text.startswith("{"):
            parsed = json.loads(text)
        elif "payload" in text:
            payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
            if payload is None:
                return None
            parsed = json.loads(payload)
        else:
            return None  # a form (a slash command)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return "the body is not valid JSON"
    return None if isinstance(parsed, dict) else "the body must be a JSON object"


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request, handler: SlackHandlerDep, settings: SettingsDep) -> Response:
    secret = settings.slack.signing_secret if handler is not None else None
    if handler is None or secret is None:
        return _refused(404, "Slack over HTTP is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)")
    body = await request.body()  # capped by the app's body limits (bot/web/body_limits.py) as it is read
    headers = request.headers
    reason = refusal(
        secret.get_secret_value(),
        body,
        headers.get("x-slack-request-timestamp"),
        headers.get("x-slack-signature"),
        time.time(),
    )
    if reason is not None:
        return _refused(401, reason)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _refused(400, "the body is not UTF-8")
    content_type = headers.get("content-type", "").split(";")[0].strip()
    if (problem := _unreadable(text, content_type)) is not None:
        return _refused(400, problem)
    bolt_request = to_async_bolt_request(request, body, {VERIFIED: True})
    return to_starlette_response(await handler.app.async_dispatch(bolt_request))


@router.get("/slack/install", include_in_schema=False)
@router.get("/slack/oauth_redirect", include_in_schema=False)
async def slack_install(request: Request, handler: SlackHandlerDep) -> Response:
    """Installing into a workspace (OAuth v2), run by Bolt: ``/slack/install`` sends the browser to Slack's
    authorize page with a fresh ``state``; Slack sends it back to ``/slack/oauth_redirect``, which checks the state
    and stores the workspace's token (``bot/slack/oauth.py``)."""
    if handler is None or handler.app.oauth_flow is None:
        return _refused(
            404, "installing into Slack workspaces is not configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET)"
        )
    return await handler.handle(request)
