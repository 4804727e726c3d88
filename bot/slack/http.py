"""``POST /slack/events``: Slack's Events API over HTTP, handed to the Bolt app."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

router = APIRouter(tags=["slack"])


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    handler: AsyncSlackRequestHandler | None = getattr(request.state, "slack_handler", None)
    if handler is None:
        return Response("Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)", status_code=404)
    if request.headers.get("content-type", "").startswith("application/json"):
        # Bolt would fail with a 500 on a body that is not JSON; it is the sender's error.
        try:
            json.loads(await request.body())
        except ValueError:
            return Response("malformed JSON body", status_code=400)
    return await handler.handle(request)
