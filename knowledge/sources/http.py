"""HTTP as every connector does it: bounded retries with backoff and jitter, ``Retry-After`` honoured but capped, a
request budget per sync, a cap on each response's size, and nothing secret in logs or errors.

A connector makes one :class:`SourceHttp` per sync run and sends every request through it, so the budget bounds the
whole run. Cancellation passes straight through: nothing here catches :class:`asyncio.CancelledError`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from core.logging import get_logger
from knowledge.loaders.errors import human_size
from knowledge.sources.protocol import ConnectorError

log = get_logger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers worth asking again after a pause: timeouts, rate limits and a server's passing trouble."""
USER_AGENT = "Threadwise (knowledge sync)"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    """Tries of one request in all, the first included."""
    base_delay: float = 0.5
    """The pause before the first retry; it doubles with each retry after, up to ``max_delay``, jittered."""
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    """The longest a server's ``Retry-After`` may make us wait, so that a hostile or broken one cannot stall a
    sync: a longer ask waits this long, then tries again (and fails the run if the server still refuses)."""


class ResponseTooLarge(ConnectorError):
    """A response over the size cap: the body was abandoned unread."""


class BudgetExceeded(ConnectorError):
    """The run used up its request budget."""


@dataclass(frozen=True, slots=True)
class SourceResponse:
    """A response read in full (within the size cap)."""

    url: str
    """The URL requested, or finally reached when redirects were followed."""
    status: int
    headers: httpx.Headers
    content: bytes
    charset: str | None
    """From the ``Content-Type``; None when it names none."""

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))

    @property
    def location(self) -> str | None:
        """Where a redirect points, made absolute; None for anything else."""
        target = self.headers.get("location")
        return urljoin(self.url, target) if 300 <= self.status < 400 and target else None

    def json(self) -> Any:
        return json.loads(self.content)


class SourceHttp:
    """An ``httpx.AsyncClient`` with the retry, budget and size rules of a sync run.

    ``sleep``, ``jitter`` (a number in [0, 1)) and ``clock`` (epoch seconds, for ``Retry-After`` dates) are
    injectable so that tests neither wait nor guess.
    """

    def __init__(
        self,
        *,
        max_requests: int,
        max_bytes: int,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        trust_env: bool = True,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.retry = retry or RetryPolicy()
        self.requests = 0
        """Requests sent so far, every retry counted."""
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self._client = httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=timeout,
            trust_env=trust_env,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, follow_redirects: bool = False
    ) -> SourceResponse:
        """GET ``url``, retrying what :data:`RETRY_STATUSES` and network failures allow.

        Any other status comes back for the caller to judge (a 404 is news, not an error, to a connector).
        Raises :class:`ConnectorError` once the retries are spent, :class:`BudgetExceeded` past the budget and
        :class:`ResponseTooLarge` for a body over ``max_bytes``. With ``follow_redirects``, httpx follows them
        (dropping ``Authorization`` when the host changes); otherwise a redirect is returned as it is.
        """
        return await self._request("GET", url, headers=headers, follow_redirects=follow_redirects)

    async def post_json(self, url: str, *, json: Any, headers: Mapping[str, str] | None = None) -> SourceResponse:
        """POST ``json`` to ``url``, with the retries, budget and size cap of :meth:`get`; redirects are returned.

        Only for requests that read (an API's search or query sent as a POST): a retry may send the body twice.
        """
        return await self._request("POST", url, headers=headers, json=json)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        json: Any = None,
        follow_redirects: bool = False,
    ) -> SourceResponse:
        where = redacted_url(url)
        for attempt in range(1, self.retry.attempts + 1):
            self._spend(where)
            last = attempt == self.retry.attempts
            try:
                async with self._client.stream(
                    method, url, headers=dict(headers or {}), json=json, follow_redirects=follow_redirects
                ) as response:
                    if response.status_code in RETRY_STATUSES and not last:
                        delay = self._delay_after(response, attempt)
                        log.info(
                            "source_http_retry", url=where, status=response.status_code, attempt=attempt, delay=delay
                        )
                    elif response.status_code in RETRY_STATUSES:
                        raise ConnectorError(
                            f"HTTP {response.status_code} from {where} after {attempt} attempts".rstrip()
                        )
                    else:
                        content = await self._read_capped(response, where)
                        return SourceResponse(
                            url=str(response.url),
                            status=response.status_code,
                            headers=response.headers,
                            content=content,
                            charset=response.charset_encoding,
                        )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as error:
                if last:
                    raise ConnectorError(
                        f"cannot reach {where} ({type(error).__name__}) after {attempt} attempts"
                    ) from None
                delay = self._backoff(attempt)
                log.info("source_http_retry", url=where, error=type(error).__name__, attempt=attempt, delay=delay)
            except httpx.HTTPError as error:  # an invalid URL, too many redirects, an unsupported scheme...
                raise ConnectorError(f"cannot fetch {where} ({type(error).__name__})") from None
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _spend(self, where: str) -> None:
        if self.requests >= self.max_requests:
            raise BudgetExceeded(
                f"stopped before {where}: this sync used its budget of {self.max_requests} requests "
                "(raise max_requests, or narrow the source)"
            )
        self.requests += 1

    def _delay_after(self, response: httpx.Response, attempt: int) -> float:
        asked = retry_after_seconds(response.headers.get("retry-after"), now=self._clock())
        if asked is None:
            return self._backoff(attempt)
        return min(asked, self.retry.max_retry_after)

    def _backoff(self, attempt: int) -> float:
        """Exponential, with "equal jitter": half the step fixed, half random, so that clients spread out."""
        step = min(self.retry.max_delay, self.retry.base_delay * 2.0 ** (attempt - 1))
        return step / 2 + self._jitter() * step / 2

    async def _read_capped(self, response: httpx.Response, where: str) -> bytes:
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > self.max_bytes:
            raise ResponseTooLarge(
                f"{where} is {human_size(int(announced))}, over the {human_size(self.max_bytes)} limit"
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise ResponseTooLarge(f"{where} is over the {human_size(self.max_bytes)} limit")
        return bytes(body)


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch seconds): delay-seconds or an HTTP date; None when absent or
    unreadable. A date in the past means no wait."""
    if not value or not (value := value.strip()):
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None  # NaN and negatives are nonsense
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as HTTP dates always are
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def redacted_url(url: str) -> str:
    """The URL without credentials, query or fragment: what logs and error messages may show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"
