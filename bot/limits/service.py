"""The limits as the worker and the API use them: count a question, hold a tenant's answer slot, say no kindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.limits.database import Database
from bot.limits.slots import LEASE_SECONDS, Lease, TenantSlots
from bot.limits.windows import count_question, prune_windows
from core.logging import get_logger
from core.metrics import RATE_LIMITED
from core.settings import LimitSettings

log = get_logger(__name__)

LimitName = Literal["user", "channel", "tenant"]
PRUNE_EVERY_SECONDS = 600.0
"""Each process prunes old windows and dead leases this often, on its next check: the web role (API-only
deployments run no worker) as much as the worker."""
TENANT_RETRY_SECONDS = 2
"""When a tenant has all its answers under way: a slot frees as soon as one of them is delivered."""

_TEXTS: dict[LimitName, str] = {
    "user": "You're asking faster than I can answer: try again in {seconds} s "
    "(the limit is {allowed} questions a minute per person).",
    "channel": "This channel is asking faster than I can answer: try again in {seconds} s "
    "(the limit is {allowed} questions a minute per channel).",
    "tenant": "I'm already writing as many answers for your team as I may at once ({allowed}): "
    "try again in {seconds} s.",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A limit a question ran into."""

    limit: LimitName
    allowed: int
    retry_after: int
    """Whole seconds until asking again can work."""

    @property
    def text(self) -> str:
        return _TEXTS[self.limit].format(seconds=self.retry_after, allowed=self.allowed)


class TenantBusyError(Exception):
    """The tenant has all its answers under way; ask again after ``refusal.retry_after`` seconds."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.text)
        self.refusal = refusal


class Limits:
    """The configured limits over one database; a limit of 0 costs nothing (no statement runs for it)."""

    def __init__(self, settings: LimitSettings, database: Database, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self.settings = settings
        self.database = database
        self.slots = TenantSlots(database, lease_seconds=lease_seconds)
        self._next_prune = 0.0
        self._pruning: asyncio.Task[None] | None = None

    async def check_question(
        self, *, platform: str, tenant: str, channel: str, user: str | None, asked_at: datetime | None = None
    ) -> Refusal | None:
        """Count a question against its user's and its channel's minute; the refusal when it is one too many.

        ``asked_at``: when it was asked (a queued question counts in the minute it arrived, however long it
        waited); ``user`` None: not known (counted against the channel only)."""
        limits = self.settings
        user_key = f"user:{platform}:{tenant}:{user}" if limits.user_per_minute and user is not None else None
        channel_key = f"channel:{platform}:{tenant}:{channel}" if limits.channel_per_minute else None
        if user_key is None and channel_key is None:
            return None
        self._maybe_prune()
        counted = await count_question(
            self.database,
            user_key=user_key,
            channel_key=channel_key,
            user_limit=limits.user_per_minute,
            asked_at=asked_at or datetime.now(UTC),
        )
        refusal = None
        if counted.user is not None and counted.user > limits.user_per_minute:
            refusal = Refusal(limit="user", allowed=limits.user_per_minute, retry_after=counted.retry_after)
        elif counted.channel is not None and counted.channel > limits.channel_per_minute:
            refusal = Refusal(limit="channel", allowed=limits.channel_per_minute, retry_after=counted.retry_after)
        if refusal is not None:
            RATE_LIMITED.labels(limit=refusal.limit, platform=platform).inc()
            log.info("question over a limit", limit=refusal.limit, retry_after=refusal.retry_after)
        return refusal

    @asynccontextmanager
    async def answer_slot(self, *, platform: str, tenant: str) -> AsyncIterator[None]:
        """Hold one of the tenant's answers at once for the block; raises :class:`TenantBusyError` when all are
        held (by any replica)."""
        async with self.holding(await self.take_answer_slot(platform=platform, tenant=tenant)):
            yield

    async def take_answer_slot(self, *, platform: str, tenant: str) -> Lease | None:
        """Take one of the tenant's answers at once, to be held with :meth:`holding`: until then it is not renewed,
        so one never held (a response that never started) frees itself within a lease. None: no limit.
        Raises :class:`TenantBusyError` when all are held (by any replica)."""
        allowed = self.settings.tenant_concurrent
        if not allowed:
            return None
        lease = await self.slots.take(tenant, allowed)
        if lease is None:
            RATE_LIMITED.labels(limit="tenant", platform=platform).inc()
            raise TenantBusyError(Refusal(limit="tenant", allowed=allowed, retry_after=TENANT_RETRY_SECONDS))
        return lease

    def holding(self, lease: Lease | None) -> AbstractAsyncContextManager[None]:
        """Keep ``lease`` alive while the block runs, then give it back."""
        return nullcontext() if lease is None else self.slots.holding(lease)

    async def aclose(self) -> None:
        """Wait for a prune under way, so that nothing runs on the database after its pool closes."""
        if self._pruning is not None:
            await self._pruning

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now < self._next_prune or (self._pruning is not None and not self._pruning.done()):
            return
        self._next_prune = now + PRUNE_EVERY_SECONDS
        self._pruning = asyncio.create_task(self._prune())  # off the question's path

    async def _prune(self) -> None:
        now = datetime.now(UTC)
        try:
            windows = await prune_windows(self.database, now=now)
            leases = await self.slots.prune(now=now)
        except Exception as error:
            log.warning("could not prune the limits' counters", exc_info=error)
        else:
            if windows or leases:
                log.info("pruned the limits' counters", windows=windows, expired_leases=leases)
