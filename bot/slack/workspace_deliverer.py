"""Answers posted in each workspace with its own token (many workspaces, OAuth installs): a ``SlackDeliverer`` per
workspace, with a client for the token ``SlackWorkspaces.token_for`` finds for the event's team (built again only
when the token changed). A workspace that uninstalled Threadwise (or revoked its token) gets nothing: the job ends
with ``RecipientGone`` instead of being retried."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError

from agent.schemas import AnswerReply
from bot.events import ChatEvent, RecipientGone
from bot.slack.deliverer import SlackDeliverer
from bot.slack.workspaces import SlackWorkspaces

TOKEN_GONE = frozenset({"token_revoked", "account_inactive", "invalid_auth", "not_authed", "team_not_found"})
"""Web API errors that mean the workspace's token no longer works (it uninstalled Threadwise, say)."""
MOST_WORKSPACES_KEPT = 1_000
"""Workspaces whose deliverer (and its streams under way) is kept; past that, the idle ones are let go."""


class SlackWorkspaceDeliverer:
    def __init__(self, workspaces: SlackWorkspaces, **options: Any) -> None:
        """``options``: ``SlackDeliverer``'s, for every workspace's."""
        self.workspaces = workspaces
        self.options = options
        self._by_workspace: dict[tuple[str, str | None], SlackDeliverer] = {}
        self._resumed: dict[str, str] = {}  # event id → the message an earlier run began the answer in

    def offers_stop(self, event: ChatEvent) -> bool:
        deliverer = self._by_workspace.get(_workspace(event))
        return deliverer is not None and deliverer.offers_stop(event)

    async def _deliverer(self, event: ChatEvent) -> SlackDeliverer:
        key = _workspace(event)
        team, enterprise = key
        # The install's token, read at each call: an uninstalled workspace's answer ends here.
        token = await self.workspaces.token_for(team, enterprise_id=enterprise)
        if token is None:
            raise RecipientGone(f"Threadwise is not installed in Slack workspace {team} any more")
        deliverer = self._by_workspace.get(key)
        if deliverer is None or deliverer.client.token != token:  # first answer there, or reinstalled
            if len(self._by_workspace) >= MOST_WORKSPACES_KEPT:
                self._by_workspace.clear()
            client = self.workspaces.client_with(token, team, enterprise_id=enterprise)
            deliverer = self._by_workspace[key] = SlackDeliverer(client, **self.options)
        placeholder = self._resumed.pop(event.event_id, None)
        if placeholder is not None:
            deliverer.resume(event, placeholder)
        return deliverer

    async def working(self, event: ChatEvent) -> None:
        try:
            await (await self._deliverer(event)).working(event)
        except SlackApiError as error:
            _raise_if_gone(error)
            raise

    def resume(self, event: ChatEvent, placeholder_id: str) -> None:
        self._resumed[event.event_id] = placeholder_id  # handed on once the workspace's deliverer is found

    async def update(self, event: ChatEvent, partial_text: str) -> str | None:
        try:
            return await (await self._deliverer(event)).update(event, partial_text)
        except SlackApiError as error:
            _raise_if_gone(error)
            raise

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        try:
            return await (await self._deliverer(event)).deliver(event, reply)
        except SlackApiError as error:
            _raise_if_gone(error)
            raise


def _workspace(event: ChatEvent) -> tuple[str, str | None]:
    """The event's workspace (team) and, for an org-wide install, its organisation."""
    team = event.delivery.get("team_id") or event.tenant  # jobs queued before the team was carried
    return team, event.delivery.get("enterprise_id")


def _raise_if_gone(error: SlackApiError) -> None:
    code = error.response.get("error")
    if code in TOKEN_GONE:
        raise RecipientGone(f"the Slack workspace's token no longer works ({code})") from error
