"""The questions people ask most in a channel: suggested prompts for Slack's assistant container.

Only questions that were answered and got no 👎 count. A question is counted by its standalone form (a follow-up
as the agent rewrote it), the same up to case and spacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.reports import over_answers
from core.db import session_scope

MOST_ASKED_DAYS = 90
"""How far back questions count."""
PROMPT_MAX_CHARS = 200
"""Longer questions are rarely worth offering to someone else (and Slack's prompt shows only its start)."""

# Written the same way up to case and spacing. Ties go to the question asked most recently.
_MOST_ASKED = over_answers(
    """
    SELECT min(standalone) AS question, count(*) AS asked, max(created_at) AS last_asked
    FROM answers
    WHERE outcome = 'answered' AND down = 0 AND platform = :platform
      AND (CAST(:channel AS text) IS NULL OR channel = :channel)
      AND length(standalone) <= :max_chars
    GROUP BY lower(regexp_replace(btrim(standalone), '\\s+', ' ', 'g'))
    ORDER BY asked DESC, last_asked DESC
    LIMIT :limit
    """,
    with_question=True,
)


async def most_asked(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    tenant: str,
    platform: str,
    channel: str | None,
    limit: int,
    now: datetime | None = None,
) -> list[str]:
    """Up to ``limit`` questions, most asked first, in ``channel`` (None: anywhere on the platform)."""
    since = (now or datetime.now(UTC)) - timedelta(days=MOST_ASKED_DAYS)
    params = {
        "since": since,
        "tenant": tenant,
        "platform": platform,
        "channel": channel,
        "limit": limit,
        "max_chars": PROMPT_MAX_CHARS,
    }
    async with session_scope(sessionmaker) as session:
        rows = (await session.execute(_MOST_ASKED, params)).all()
    return [" ".join(str(row.question).split()) for row in rows]
