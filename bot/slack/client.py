"""The Slack Web API client: base URL from ``SLACK_API_URL`` and retries on rate limits and dropped connections."""

from __future__ import annotations

from contextlib import AsyncExitStack

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from core.settings import SlackSettings

RATE_LIMIT_RETRIES = 3


async def open_web_client(stack: AsyncExitStack, settings: SlackSettings) -> AsyncWebClient:
    """A client whose calls share one pool of kept-alive connections, closed when ``stack`` closes.

    Without a session of its own the SDK opens a new HTTP session, and so a new connection, for every call.
    With OAuth installs (``SLACK_CLIENT_ID``) it holds no token: each workspace's token is given per request (Bolt's
    ``authorize``) or per client (``bot.slack.workspaces``).
    """
    if settings.bot_token is None and not settings.oauth:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    session = aiohttp.ClientSession()
    stack.push_async_callback(session.close)
    return AsyncWebClient(
        token=settings.bot_token.get_secret_value() if settings.bot_token is not None else None,
        base_url=str(settings.api_url),
        timeout=30,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ],
    )
