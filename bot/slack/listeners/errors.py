"""One error handler for every listener: the person gets a short apology with a reference id; the error is
logged with its context. Slack still gets its HTTP answer, so it does not retry into the same failure."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.verification import is_verified
from core.logging import get_logger
from core.metrics import count_error
from core.sentry import report_failure

log = get_logger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Reference: {reference}"


def register(app: AsyncApp) -> None:
    @app.error
    async def on_error(
        error: Exception, body: dict[str, Any], client: AsyncWebClient, request: AsyncBoltRequest
    ) -> None:
        reference = report_failure(error)
        count_error("slack_listener")
        event = body.get("event") or {}
        log.error(
            "slack listener failed",
            reference_id=reference,
            event_type=event.get("type"),
            event_id=body.get("event_id"),
            channel=event.get("channel"),
            exc_info=error,
        )
        channel = event.get("channel")
        # An unverified body names whatever channel its sender likes: never post there with our token.
        if not is_verified(request):
            return
        if channel and event.get("type") in ("app_mention", "message"):
            thread = event.get("thread_ts") or event.get("ts")
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread, text=APOLOGY.format(reference=reference)
                )
            except Exception as notify_error:
                log.error("slack apology not delivered", reference_id=reference, exc_info=notify_error)
