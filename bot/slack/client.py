"""The Slack Web API client: base URL from ``SLACK_API_URL`` and retries on rate limits and dropped connections."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from core.settings import SlackSettings

RATE_LIMIT_RETRIES = 3


def create_web_client(settings: SlackSettings) -> AsyncWebClient:
    if settings.bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    return AsyncWebClient(
        token=settings.bot_token.get_secret_value(),
        base_url=str(settings.api_url),
        timeout=30,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )
