"""The bot token of each workspace's install, for what reads Slack outside a request (a channel's history sync)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.history import WorkspaceTokens
from bot.slack.installations import InstallationStore, TokenSeal
from core.settings import SlackSettings


def workspace_tokens(slack: SlackSettings, sessionmaker: async_sessionmaker[AsyncSession]) -> WorkspaceTokens:
    """The installs' tokens (``slack.oauth``: many workspaces), opened with ``SLACK_TOKENS_SECRET_KEY``."""
    if slack.tokens_secret_key is None:  # the settings refuse OAuth without it; this keeps the type checker sure
        raise ValueError("SLACK_TOKENS_SECRET_KEY is not set")
    return InstallationStore(sessionmaker, TokenSeal(slack.tokens_secret_key)).bot_token
