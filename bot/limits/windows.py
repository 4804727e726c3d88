"""Questions a minute per user and per channel: fixed one-minute windows counted in PostgreSQL.

A question adds one to its user's window and, only while the user is within their limit, to its channel's: one
person over their limit does not use up everyone else's share of the channel. Both happen in one statement, an
``INSERT … ON CONFLICT DO UPDATE … RETURNING count`` per key: atomic on the row, so replicas counting at the same
moment never lose a question, and cheap (one round trip, one small row per key and minute). A fixed window lets
a burst straddling a minute's end through twice over, which is acceptable for keeping one caller from hogging
the bot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.limits.database import Database

WINDOW = timedelta(minutes=1)
KEEP_WINDOWS = timedelta(minutes=15)
"""Windows older than this are pruned: a question is answered (or apologised for) within ``QUEUE_MAX_AGE_SECONDS``,
10 minutes by default, and counted in the window it was asked in."""

_COUNT = """
WITH user_window AS (
    INSERT INTO rate_limit_windows AS w (key, window_start, count)
    SELECT $1::text, $3::timestamptz, 1 WHERE $1::text IS NOT NULL
    ON CONFLICT (key, window_start) DO UPDATE SET count = w.count + 1
    RETURNING count
),
channel_window AS (
    INSERT INTO rate_limit_windows AS w (key, window_start, count)
    SELECT $2::text, $3::timestamptz, 1
    WHERE $2::text IS NOT NULL AND coalesce((SELECT count FROM user_window), 0) <= $4::int
    ON CONFLICT (key, window_start) DO UPDATE SET count = w.count + 1
    RETURNING count
)
SELECT (SELECT count FROM user_window) AS user_count, (SELECT count FROM channel_window) AS channel_count
"""

_PRUNE = "DELETE FROM rate_limit_windows WHERE window_start < $1::timestamptz"


@dataclass(frozen=True, slots=True)
class Counted:
    """A question's place in its windows; None where that key was not counted (no limit, or the user was over)."""

    user: int | None
    channel: int | None
    retry_after: int
    """Whole seconds until the window ends (at least 1)."""


def window_start(at: datetime) -> datetime:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(second=0, microsecond=0)


async def count_question(
    database: Database, *, user_key: str | None, channel_key: str | None, user_limit: int, asked_at: datetime
) -> Counted:
    """Count a question asked at ``asked_at`` under ``user_key`` and, while within ``user_limit``, ``channel_key``."""
    start = window_start(asked_at)
    row = await database.fetchrow(_COUNT, user_key, channel_key, start, user_limit) or {}
    left = (start + WINDOW - datetime.now(UTC)).total_seconds()
    return Counted(user=row.get("user_count"), channel=row.get("channel_count"), retry_after=max(1, math.ceil(left)))


async def prune_windows(database: Database, *, now: datetime) -> int:
    status = await database.execute(_PRUNE, now - KEEP_WINDOWS)
    return int(status.rsplit(" ", 1)[-1])
