"""The Web API client of each workspace, for whoever posts outside a Bolt request (the worker's answers).

One workspace (``SLACK_BOT_TOKEN``): its one client, whatever the team. Many (OAuth installs): a client with the
workspace's own bot token from the installation store, or ``None`` when the workspace has no install (it was
uninstalled, or its token revoked). A job carries its workspace in ``ChatEvent.delivery`` (``workspace_delivery``).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from slack_bolt.request.internals import extract_enterprise_id, extract_is_enterprise_install, extract_team_id
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.client import open_web_client
from bot.slack.installations import InstallationStore, open_installations
from core.settings import SlackSettings


def workspace_delivery(body: dict[str, Any]) -> dict[str, str]:
    """Where a question's answer is posted from, for its job: ``team_id``, and ``enterprise_id`` when the app was
    installed org-wide on Enterprise Grid (the organisation's install holds the token). Read as Bolt reads them
    to find the token for the listeners, so the worker uses the same one."""
    delivery: dict[str, str] = {}
    # An org-wide install's authorization names no workspace: then the one where the event happened.
    if team_id := extract_team_id(body) or body.get("team_id"):
        delivery["team_id"] = str(team_id)
    if extract_is_enterprise_install(body) and (enterprise_id := extract_enterprise_id(body)):
        delivery["enterprise_id"] = enterprise_id
    return delivery


class SlackWorkspaces:
    """``client_for`` a workspace; ``installations`` is None with a single ``SLACK_BOT_TOKEN``."""

    def __init__(self, client: AsyncWebClient, installations: InstallationStore | None = None) -> None:
        self.client = client
        """The single token's client; with OAuth installs a client without a token, whose connections the
        workspaces' clients share."""
        self.installations = installations

    async def client_for(self, team_id: str, *, enterprise_id: str | None = None) -> AsyncWebClient | None:
        """The client that speaks as Threadwise in workspace ``team_id``; ``enterprise_id`` is the delivery's, set
        only for an org-wide install. None: not installed there (any more)."""
        if self.installations is None:
            return self.client
        token = await self.token_for(team_id, enterprise_id=enterprise_id)
        return None if token is None else self.client_with(token, team_id, enterprise_id=enterprise_id)

    async def token_for(self, team_id: str, *, enterprise_id: str | None = None) -> str | None:
        """The bot token of the install serving ``team_id`` (an organisation's, for ``enterprise_id``); None: not
        installed there (any more), or a single ``SLACK_BOT_TOKEN`` (``client`` has it)."""
        if self.installations is None:
            return None
        return await self.installations.bot_token(team_id=team_id, enterprise_id=enterprise_id)

    def client_with(self, token: str, team_id: str, *, enterprise_id: str | None = None) -> AsyncWebClient:
        """A client for ``token`` sharing ``client``'s connections and settings."""
        base = self.client
        return AsyncWebClient(
            token=token,
            base_url=base.base_url,
            timeout=base.timeout,
            session=base.session,
            # An organisation's token serves many workspaces: each call names the one it is for.
            team_id=team_id if enterprise_id is not None else None,
            logger=base.logger,
            retry_handlers=list(base.retry_handlers),
        )


async def open_workspaces(
    stack: AsyncExitStack, settings: SlackSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> SlackWorkspaces:
    """The workspaces of this configuration; their connections are closed when ``stack`` closes."""
    client = await open_web_client(stack, settings)
    if not settings.oauth:
        return SlackWorkspaces(client)
    return SlackWorkspaces(client, open_installations(settings, sessionmaker))
