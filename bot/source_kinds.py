"""The source kinds that read a chat platform's history (Slack channels, Discord forums), for ``Sources``.

They live with their platform in ``bot/``; the kinds that know no chat platform (website, repositories, wikis) are
built into ``knowledge.sources``. A platform's kind is offered only when the platform is configured.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from knowledge.sources.connectors import ConnectorKind


def history_kinds(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> list[ConnectorKind]:
    """The history kinds this deployment can sync, given which platforms it has credentials for (with many Slack
    workspaces, each channel is read with its workspace's install: the installs are in the database)."""
    kinds: list[ConnectorKind] = []
    if settings.slack.enabled:
        from bot.slack.history import slack_history_kind
        from bot.slack.installations import open_installations

        tokens = open_installations(settings.slack, sessionmaker).bot_token if settings.slack.oauth else None
        kinds.append(slack_history_kind(settings.slack, tokens=tokens))
    if settings.discord.enabled:  # imported only then: discord.py is not a small import
        from bot.discord.history import discord_history_kind

        kinds.append(discord_history_kind(settings.discord))
    return kinds
