"""Many workspaces: the Bolt app installs through OAuth v2 and serves each workspace with its own bot token.

Bolt runs the flow (``/slack/install`` redirects to Slack's authorize page with a fresh ``state``, also set as a
cookie; ``/slack/oauth_redirect`` checks both, exchanges the code with ``oauth.v2.access`` and stores the install)
and, for every request, its ``authorize`` finds the workspace's bot token in the store. Two things are ours:

- ``authorize`` keeps each token's ``auth.test`` answer (Bolt's cache) instead of asking Slack on every event;
- a request from a workspace without an install (uninstalled, events still in flight) is acknowledged and
  dropped before ``authorize``, with one INFO line: Bolt would log an ERROR for each and, for a slash command,
  post an apology to Slack's ``response_url``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.install_pages import install_callbacks
from bot.slack.installations import STATE_SECONDS, InstallationStore, OAuthStateStore
from core.logging import get_logger
from core.settings import SlackSettings

log = get_logger(__name__)

TOKEN_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})
"""Events about the install itself: they arrive when its token may be gone already, and need none."""
_NO_WORKSPACE = frozenset({"url_verification", "ssl_check"})


class QueuedWork(Protocol):
    async def drop_queued(self, platform: str, team_id: str) -> int:
        """Delete a workspace's jobs still waiting; how many."""


@dataclass(frozen=True)
class SlackOAuth:
    """What the Bolt app needs besides its listeners' deps when workspaces install through OAuth."""

    settings: SlackSettings
    installations: InstallationStore
    queued: QueuedWork
    """Where an uninstalled workspace's waiting questions are dropped (the job queue)."""

    def app_options(self, client: AsyncWebClient) -> dict[str, Any]:
        """``AsyncApp`` keyword arguments: the OAuth flow, ``authorize`` and the check before it."""
        settings = self.settings
        if settings.client_id is None or settings.client_secret is None:
            raise ValueError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are not set")
        client_secret = settings.client_secret.get_secret_value()
        logger = logging.getLogger("slack_bolt.oauth")
        oauth_settings = AsyncOAuthSettings(
            client_id=settings.client_id,
            client_secret=client_secret,
            scopes=settings.scopes,
            user_scopes=[],
            redirect_uri=str(settings.redirect_uri) if settings.redirect_uri is not None else None,
            # Straight on to Slack's authorize page: Bolt's page in between only shows an "Add to Slack" button.
            install_page_rendering_enabled=False,
            callback_options=install_callbacks(settings.tenant),
            installation_store=self.installations,
            installation_store_bot_only=True,
            state_store=OAuthStateStore(self.installations.sessionmaker, expiration_seconds=STATE_SECONDS),
            state_expiration_seconds=STATE_SECONDS,
            logger=logger,
        )
        authorize = AsyncInstallationStoreAuthorize(
            logger=logger,
            installation_store=self.installations,
            client_id=settings.client_id,
            client_secret=client_secret,  # rotates tokens when the app has rotation on
            bot_only=True,
            cache_enabled=True,  # one auth.test per token, not one per event
            client=client,
        )
        return {
            "oauth_settings": oauth_settings,
            "authorize": authorize,
            "before_authorize": _skip_uninstalled(self.installations),
        }


def _skip_uninstalled(
    installations: InstallationStore,
) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def skip_uninstalled(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[BoltResponse | None]]
    ) -> BoltResponse | None:
        if body.get("type") in _NO_WORKSPACE or (body.get("event") or {}).get("type") in TOKEN_EVENTS:
            return await next()
        bot = await installations.async_find_bot(
            enterprise_id=context.enterprise_id,
            team_id=context.team_id,
            is_enterprise_install=context.is_enterprise_install,
        )
        if bot is None:
            log.info(
                "slack request from a workspace without an install ignored",
                team_id=context.team_id,
                enterprise_id=context.enterprise_id,
            )
            return BoltResponse(status=200, body="")
        return await next()

    return skip_uninstalled
