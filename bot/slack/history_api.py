"""Slack's Web API as a history sync reads it: one client per run, rate limits waited out within bounds, and
every other Slack error turned into a ``ConnectorError`` that says what to do (shown as the source's last error).

The bot token is the deployment's (``SLACK_BOT_TOKEN``); the base URL is ``SLACK_API_URL``, as for the rest of
``bot/slack``. A 429 is retried by slack_sdk's rate-limit handler, waiting what ``Retry-After`` asks up to a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from core.settings import SlackSettings
from knowledge.sources.http import Sleep, retry_after_seconds
from knowledge.sources.protocol import ConnectorError

PAGE_SIZE = 200
"""Slack's advice for paginated methods: 200 at most a page."""
RATE_LIMIT_RETRIES = 5
MAX_RETRY_AFTER = 60.0
"""The longest a ``Retry-After`` makes a sync wait before it asks again."""
_GONE = frozenset({"thread_not_found", "message_not_found"})


class ThreadGone(Exception):
    """Slack no longer has the thread asked for."""


class BoundedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, but waiting what ``Retry-After`` asks only up to ``max_wait`` (a longer ask waits
    that long, then asks again: a wrong header cannot stall a sync for hours), with an injectable ``sleep``."""

    def __init__(self, *, max_retry_count: int, max_wait: float, sleep: Sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self._sleep = sleep

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("a retry with neither a response nor an error")
        state.next_attempt_requested = True
        value = next((v[0] for k, v in response.headers.items() if k.lower() == "retry-after" and v), None)
        asked = retry_after_seconds(value, now=time.time())
        await self._sleep(min(1.0 if asked is None else asked, self.max_wait))
        state.increment_current_attempt()


class SlackReader:
    """The Web API for one sync run of one channel. Opened on the first call (a missing token fails the run,
    not the building of the connector); ``aclose`` closes its connections."""

    def __init__(
        self,
        slack: SlackSettings,
        *,
        channel: str,
        sleep: Sleep = asyncio.sleep,
        max_wait: float = MAX_RETRY_AFTER,
        token: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        """``token``: the workspace install's bot token (many workspaces); None: ``SLACK_BOT_TOKEN``."""
        self._slack = slack
        self._token = token
        self._channel = channel
        self._sleep = sleep
        self._max_wait = max_wait
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, *, gone_ok: bool = False, **params: str | int | None) -> dict[str, Any]:
        """Slack's answer to ``method`` (every method used here reads, so GET). ``gone_ok``: a thread Slack no
        longer has raises ``ThreadGone`` rather than failing the run."""
        client = await self._open()
        given = {name: value for name, value in params.items() if value is not None}
        try:
            response = await client.api_call(method, http_verb="GET", params=given)
        except SlackApiError as error:
            code = str(error.response.get("error") or f"HTTP {error.response.status_code}")
            if gone_ok and code in _GONE:
                raise ThreadGone from None
            raise ConnectorError(_explain(method, code, error.response.get("needed"), self._channel)) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            raise ConnectorError(f"could not reach Slack for {method} ({type(error).__name__})") from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def pages(
        self, method: str, *, gone_ok: bool = False, **params: str | int | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Each page of a cursor-paginated method, following ``response_metadata.next_cursor`` to the end."""
        cursor: str | None = None
        while True:
            page = await self.call(method, gone_ok=gone_ok, limit=PAGE_SIZE, cursor=cursor, **params)
            yield page
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return

    async def _open(self) -> AsyncWebClient:
        if self._client is None:
            if self._token is not None:
                token = await self._token()
            elif self._slack.bot_token is not None:
                token = self._slack.bot_token.get_secret_value()
            else:
                raise ConnectorError("SLACK_BOT_TOKEN is not set: Slack channels cannot be synced without it")
            self._session = aiohttp.ClientSession()
            self._client = AsyncWebClient(
                token=token,
                base_url=str(self._slack.api_url),
                timeout=30,
                session=self._session,
                retry_handlers=[
                    AsyncConnectionErrorRetryHandler(),
                    BoundedRateLimitRetry(
                        max_retry_count=RATE_LIMIT_RETRIES, max_wait=self._max_wait, sleep=self._sleep
                    ),
                ],
            )
        return self._client


def _explain(method: str, code: str, needed: Any, channel: str) -> str:
    """Slack's error code, with what to do about the common ones."""
    invite = "invite it with `/invite @Threadwise` in the channel"
    hints = {
        "channel_not_found": f"Slack shows no channel {channel} to Threadwise; if it is private, {invite}",
        "not_in_channel": f"Threadwise is not in channel {channel}: {invite}",
        "missing_scope": f"the Slack app lacks the scope {needed or 'this method needs'}: add it (see "
        "docs/slack-manifest.yml) and reinstall the app",
        "invalid_auth": "Slack refused the bot token (SLACK_BOT_TOKEN)",
        "token_revoked": "the bot token (SLACK_BOT_TOKEN) was revoked",
        "account_inactive": "the Slack app was uninstalled or its token deactivated",
        "ratelimited": "Slack kept rate-limiting the requests; the next run tries again",
    }
    hint = hints.get(code)
    return f"Slack {method} failed: {code}" + (f" ({hint})" if hint else "")
