"""``app_uninstalled`` and ``tokens_revoked`` (OAuth installs only): a workspace that removed Threadwise, or revoked
its bot token, loses the stored token at once, and its questions still waiting in the queue are dropped (no answer
could be posted). Later requests from it are acknowledged and ignored before any listener (``bot/slack/oauth.py``).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.slack.installations import installation_key
from bot.slack.oauth import SlackOAuth
from core.logging import get_logger

log = get_logger(__name__)


def register(app: AsyncApp, oauth: SlackOAuth) -> None:
    @app.event("app_uninstalled")
    async def on_uninstalled(context: AsyncBoltContext) -> None:
        await _remove(oauth, context, why="app uninstalled")

    @app.event("tokens_revoked")
    async def on_tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        # Only bot tokens are stored (Threadwise asks for no user scopes): a user's revoked token changes nothing.
        if (event.get("tokens") or {}).get("bot"):
            await _remove(oauth, context, why="bot token revoked")


async def _remove(oauth: SlackOAuth, context: AsyncBoltContext, *, why: str) -> None:
    org_wide = bool(context.is_enterprise_install)
    key = installation_key(context.enterprise_id, context.team_id, org_wide)
    if key is None:
        log.warning("slack install removal names no workspace; nothing removed", why=why)
        return
    removed = await oauth.installations.uninstall(
        enterprise_id=context.enterprise_id, team_id=context.team_id, is_enterprise_install=org_wide
    )
    dropped = await oauth.queued.drop_queued("slack", key)
    log.info("slack workspace removed", why=why, installed_into=key, token_deleted=removed, questions_dropped=dropped)
