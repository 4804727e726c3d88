"""Answers at once per tenant, across every replica: ``limit`` numbered slots, each taken by a lease row.

Why leases rather than PostgreSQL advisory locks: a session lock would pin a pooled connection for the whole
answer (minutes with a slow model), leak to the next user of that connection if an unlock were missed (the
queue's pool does not reset connections it takes back), and does not survive a transaction-mode pooler such as
PgBouncer. A lease is a row: taking one is a single statement whose primary key on ``(tenant, slot)`` makes two
replicas racing for the same free slot end with one holder (the loser's ``ON CONFLICT … WHERE expired`` finds the
winner's live row and takes nothing, then tries another slot). A holder renews its lease while it answers; when
its process dies the lease simply expires, so a crash frees the slot after ``lease_seconds`` at the latest (the
queue hands the dead worker's job to another after about as long).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime

from bot.limits.database import Database
from core.logging import get_logger

log = get_logger(__name__)

LEASE_SECONDS = 60.0
RACES = 3
"""Tries when another replica took the free slot we picked at the same moment; the slots are picked at random, so
losing twice in a row is rare."""

_TAKE = """
WITH candidate AS (
    SELECT free.slot
    FROM generate_series(0, $3::int - 1) AS free(slot)
    WHERE NOT EXISTS (
        SELECT FROM answer_leases AS held
        WHERE held.tenant = $1::text AND held.slot = free.slot AND held.expires_at > now()
    )
    ORDER BY random()
    LIMIT 1
),
taken AS (
    INSERT INTO answer_leases AS lease (tenant, slot, holder, expires_at)
    SELECT $1::text, slot, $2::uuid, now() + make_interval(secs => $4::float8) FROM candidate
    ON CONFLICT (tenant, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE lease.expires_at <= now()
    RETURNING slot
)
SELECT (SELECT slot FROM taken) AS slot, EXISTS (SELECT FROM candidate) AS seen_free
"""
# Random order spreads replicas over the free slots; the candidate is materialised once (it is used twice).

_RENEW = """
UPDATE answer_leases SET expires_at = now() + make_interval(secs => $4::float8)
WHERE tenant = $1::text AND slot = $2::int AND holder = $3::uuid
"""
_RELEASE = "DELETE FROM answer_leases WHERE tenant = $1::text AND slot = $2::int AND holder = $3::uuid"
_PRUNE = "DELETE FROM answer_leases WHERE expires_at < $1::timestamptz"


@dataclass(frozen=True, slots=True)
class Lease:
    tenant: str
    slot: int
    holder: uuid.UUID


class TenantSlots:
    def __init__(self, database: Database, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self.database = database
        self.lease_seconds = lease_seconds

    async def take(self, tenant: str, limit: int) -> Lease | None:
        """One of the tenant's ``limit`` slots, or None when all are held."""
        holder = uuid.uuid4()
        for _ in range(RACES):
            row = await self.database.fetchrow(_TAKE, tenant, holder, limit, self.lease_seconds)
            if row is None:
                return None
            if row["slot"] is not None:
                return Lease(tenant=tenant, slot=int(row["slot"]), holder=holder)
            if not row["seen_free"]:
                return None
        return None

    @asynccontextmanager
    async def holding(self, lease: Lease) -> AsyncIterator[None]:
        """Keep ``lease`` alive while the block runs, then give it back."""
        renewing = asyncio.create_task(self._renew(lease))
        try:
            yield
        finally:
            renewing.cancel()
            with suppress(asyncio.CancelledError):
                await renewing
            # Shielded: an answer cancelled mid-way (a client that hung up) still frees its slot at once.
            await asyncio.shield(self._release(lease))

    async def _renew(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.database.execute(_RENEW, lease.tenant, lease.slot, lease.holder, self.lease_seconds)
            except Exception as error:  # the next try may work; the lease lasts two more intervals
                log.warning("could not renew an answer's lease", exc_info=error)

    async def _release(self, lease: Lease) -> None:
        try:
            await self.database.execute(_RELEASE, lease.tenant, lease.slot, lease.holder)
        except Exception as error:
            log.warning("could not release an answer's lease; it expires", exc_info=error)

    async def prune(self, *, now: datetime) -> int:
        """Forget leases of crashed holders (their slots are taken over anyway; this keeps the table small)."""
        status = await self.database.execute(_PRUNE, now)
        return int(status.rsplit(" ", 1)[-1])
