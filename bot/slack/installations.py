"""Where OAuth installs live: each workspace's bot token in PostgreSQL, sealed, and the ``state`` of installs under
way. Bolt's OAuth flow and its ``authorize`` use them through slack_sdk's async store interfaces.

slack_sdk's own SQL stores keep tokens in clear and a row per install; these keep one row per workspace (its
latest install: installing again replaces it), bot tokens only (Threadwise asks for no user scopes), each sealed
with ``SLACK_TOKENS_SECRET_KEY``. A workspace is its team id (``T…``); an org-wide install on Enterprise Grid is its
organisation's enterprise id (``E…``), whatever workspace of the organisation an event comes from.

Bolt looks the workspace's bot up for every event, and the worker for every answer: found bots are kept for
``cache_seconds``. A process forgets a workspace at once when it removes it itself; other processes within that
time. A workspace not found is never remembered, so a new install is served at once.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import SlackInstallation, SlackOAuthState
from core.db import session_scope
from core.logging import get_logger
from core.settings import SlackSettings
from core.ttl_cache import TtlCache

log = get_logger(__name__)

CACHE_SECONDS = 30.0
STATE_SECONDS = 600
"""How long an install may take between ``/slack/install`` and Slack sending the browser back (Bolt's default)."""


class SealedWithAnotherKey(Exception):
    """A stored token cannot be opened with ``SLACK_TOKENS_SECRET_KEY``: the key changed since it was sealed."""


class TokenSeal:
    """Fernet (AES-128-CBC with an HMAC) under ``SLACK_TOKENS_SECRET_KEY``, checked to be a key by the settings."""

    def __init__(self, key: SecretStr) -> None:
        self._fernet = Fernet(key.get_secret_value().encode())

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def can_open(self, sealed: str) -> bool:
        """Whether ``sealed`` was sealed with this key."""
        try:
            self.open(sealed)
        except SealedWithAnotherKey:
            return False
        return True

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealedWithAnotherKey from None


def installation_key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> str | None:
    """The row of an install: the organisation's for an org-wide install, else the workspace's. Team ids are unique
    across Slack, so a workspace of an Enterprise Grid organisation is found by its team id alone."""
    return enterprise_id if is_enterprise_install or team_id is None else team_id


def _expires_at(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def open_installations(slack: SlackSettings, sessionmaker: async_sessionmaker[AsyncSession]) -> InstallationStore:
    """The installs of a deployment that serves many workspaces (``slack.oauth``), their tokens opened with
    ``SLACK_TOKENS_SECRET_KEY``."""
    if slack.tokens_secret_key is None:  # the settings refuse OAuth without it; this keeps the type checker sure
        raise ValueError("SLACK_TOKENS_SECRET_KEY is not set")
    return InstallationStore(sessionmaker, TokenSeal(slack.tokens_secret_key))


class InstallationStore(AsyncInstallationStore):
    """Bolt's installation store over our ``slack_installations`` table; Bolt runs with ``bot_only`` (find_bot)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        seal: TokenSeal,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessionmaker = sessionmaker
        self._seal = seal
        self._bots: TtlCache[str, Bot] = TtlCache(cache_seconds, clock=clock)
        """Each request looks its workspace up twice (``oauth._skip_uninstalled``, then Bolt's ``authorize``)."""

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(__name__)

    async def async_save(self, installation: Installation) -> None:
        """A finished install (Bolt's OAuth flow): the workspace's row, replacing an earlier install's."""
        if installation.bot_token is None:
            raise BoltError("Slack granted no bot token; the app must ask for bot scopes (SLACK_SCOPES)")
        installed = {
            "installer_user_id": installation.user_id or None,
            "enterprise_url": installation.enterprise_url,
            "installed_at": func.now(),
        }
        await self._save(installation.to_bot(), installed)

    async def async_save_bot(self, bot: Bot) -> None:
        """A rotated bot token (Bolt's ``authorize``, when the app rotates tokens): who installed it, and when, stay."""
        await self._save(bot, {})

    async def _save(self, bot: Bot, installed: dict[str, Any]) -> None:
        key = installation_key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        if key is None:
            raise BoltError("Slack named neither a workspace nor an organisation for this install")
        values: dict[str, Any] = {
            "team_id": bot.team_id,
            "team_name": bot.team_name,
            "enterprise_id": bot.enterprise_id,
            "enterprise_name": bot.enterprise_name,
            "is_enterprise_install": bool(bot.is_enterprise_install),
            "app_id": bot.app_id,
            "bot_id": bot.bot_id,
            "bot_user_id": bot.bot_user_id,
            "bot_scopes": ",".join(bot.bot_scopes),
            "bot_token_sealed": self._seal.seal(bot.bot_token),
            "bot_refresh_token_sealed": self._seal.seal(bot.bot_refresh_token) if bot.bot_refresh_token else None,
            "bot_token_expires_at": _expires_at(bot.bot_token_expires_at),
        } | installed
        self._bots.forget(key)
        try:
            async with session_scope(self.sessionmaker) as session:
                statement = insert(SlackInstallation).values(installed_into=key, **values)
                await session.execute(
                    statement.on_conflict_do_update(index_elements=[SlackInstallation.installed_into], set_=values)
                )
        except SQLAlchemyError as error:
            log.error("slack install could not be stored", installed_into=key, exc_info=error)
            # Bolt shows its failure page for a BoltError (a storage error); anything else would be a 500.
            raise BoltError("the install could not be stored") from None

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        key = installation_key(enterprise_id, team_id, is_enterprise_install)
        if key is None:
            return None
        if (cached := self._bots.get(key)) is not None:
            return cached
        row = await self._row(key)
        if row is None:
            self._bots.forget(key)
            return None
        try:
            bot = self._bot(row)
        except SealedWithAnotherKey:
            log.error(
                "a slack workspace's token was sealed with another SLACK_TOKENS_SECRET_KEY; "
                "restore the key, or install Threadwise in the workspace again",
                installed_into=key,
            )
            return None
        self._bots.put(key, bot)
        return bot

    async def bot_token(self, *, team_id: str, enterprise_id: str | None) -> str | None:
        """The bot token of the install serving workspace ``team_id`` (its organisation's, given ``enterprise_id``
        for an org-wide install); None: Threadwise is not installed there (any more)."""
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=enterprise_id is not None
        )
        return None if bot is None else bot.bot_token

    async def count(self) -> tuple[int, int]:
        """How many installs there are, and how many of their tokens this key cannot open (sealed with another
        ``SLACK_TOKENS_SECRET_KEY``): for ``threadwise doctor``."""
        async with session_scope(self.sessionmaker) as session:
            sealed = list(await session.scalars(select(SlackInstallation.bot_token_sealed)))
        return len(sealed), sum(1 for token in sealed if not self._seal.can_open(token))

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The workspace's install, as far as it is stored (bot token, installer); no user has a token of its own."""
        key = installation_key(enterprise_id, team_id, is_enterprise_install)
        row = None if key is None else await self._row(key)
        if row is None or (user_id is not None and user_id != row.installer_user_id):
            return None
        bot = self._bot(row)
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            enterprise_name=bot.enterprise_name,
            enterprise_url=row.enterprise_url,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at,
            user_id=row.installer_user_id or "",
            is_enterprise_install=bot.is_enterprise_install,
            installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.uninstall(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=team_id is None)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:  # one user's tokens: none are stored
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def uninstall(self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> bool:
        """Delete the install's row and its tokens; True when there was one."""
        key = installation_key(enterprise_id, team_id, is_enterprise_install)
        if key is None:
            return False
        self._bots.forget(key)
        async with session_scope(self.sessionmaker) as session:
            deleted = await session.scalars(
                delete(SlackInstallation)
                .where(SlackInstallation.installed_into == key)
                .returning(SlackInstallation.installed_into)
            )
            return deleted.first() is not None

    async def _row(self, key: str) -> SlackInstallation | None:
        async with session_scope(self.sessionmaker) as session:
            row: SlackInstallation | None = await session.get(SlackInstallation, key)
            return row

    def _bot(self, row: SlackInstallation) -> Bot:
        refresh = row.bot_refresh_token_sealed
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            enterprise_name=row.enterprise_name,
            team_id=row.team_id,
            team_name=row.team_name,
            bot_token=self._seal.open(row.bot_token_sealed),
            bot_id=row.bot_id,
            bot_user_id=row.bot_user_id,
            bot_scopes=row.bot_scopes,
            bot_refresh_token=self._seal.open(refresh) if refresh else None,
            bot_token_expires_at=row.bot_token_expires_at,
            is_enterprise_install=row.is_enterprise_install,
            installed_at=row.installed_at,
        )


class OAuthStateStore(AsyncOAuthStateStore):
    """The ``state`` of each install under way: issued at ``/slack/install``, accepted once at
    ``/slack/oauth_redirect`` (deleted as it is checked), refused after ``expiration_seconds``."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, expiration_seconds: int = STATE_SECONDS):
        self.sessionmaker = sessionmaker
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(__name__)

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        async with session_scope(self.sessionmaker) as session:
            # Installs abandoned halfway leave their state behind: whoever starts the next one sweeps them.
            await session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < func.now()))
            expires_at = func.now() + timedelta(seconds=self.expiration_seconds)
            await session.execute(insert(SlackOAuthState).values(state=state, expires_at=expires_at))
        return state

    async def async_consume(self, state: str) -> bool:
        async with session_scope(self.sessionmaker) as session:
            fresh = await session.scalar(
                delete(SlackOAuthState)
                .where(SlackOAuthState.state == state)
                .returning(SlackOAuthState.expires_at > func.now())
            )
        return fresh is True
