"""Who may be shown a collection's documents: everyone in the tenant, or the people of one chat channel.

A search carries the audiences of the place it is asked from (the channel of a Slack or Discord question); a
collection is searched only when its audience is ``tenant`` or one of those. A private channel's history is kept in
a collection of its own whose audience is that channel, so that it is never quoted in another channel or a DM.
"""

from __future__ import annotations

from collections.abc import Collection as Many

TENANT_WIDE = "tenant"
"""The audience of what anyone in the tenant may be shown (documentation, a public channel's history)."""


def channel_audience(platform: str, channel: str) -> str:
    """The audience of one chat channel: ``slack:C0123``, ``discord:1234``."""
    return f"{platform}:{channel}"


def channel_audience_sql(platform: str, channel: str) -> str:
    """``channel_audience`` in another layer's statement, of two SQL expressions written in code."""
    return f"(({platform}) || ':' || ({channel}))"


def may_see(audience: str, audiences: Many[str]) -> bool:
    """Whether someone asking from a place with ``audiences`` may be shown what has ``audience``."""
    return audience == TENANT_WIDE or audience in audiences
