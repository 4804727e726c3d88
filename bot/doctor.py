"""``threadwise doctor``: the effective configuration (secrets masked) and a check of everything it points at."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.discord.history_api import reads_message_content
from bot.first_run import FirstRunHelp
from bot.notifications_check import notifications_check
from bot.open_access import open_listener_problem
from bot.slack.installations import open_installations
from core.db import create_engine, create_sessionmaker, resolve_database_url, session_scope
from core.embedded_postgres import EmbeddedPostgresError
from core.health import Check, database_checks
from core.settings import DiscordSettings, Settings, env_name
from knowledge.sources.store import list_sources

HTTP_TIMEOUT = 5.0
MESSAGE_CONTENT_OFF = (
    "DISCORD_MESSAGE_CONTENT off: follow-ups without a mention and new forum posts (/threadwise forum on) can't be "
    "read, so they are not answered (only mentions, replies that ping the bot, and DMs)"
)
MESSAGE_CONTENT_NOT_ALLOWED = (
    "DISCORD_MESSAGE_CONTENT is on but the application may not use the Message Content intent, so Discord refuses "
    "the gateway connection: switch on Developer Portal → Bot → Message Content Intent (a bot in 100 or more "
    "servers must be verified and approved for it), or unset DISCORD_MESSAGE_CONTENT"
)


def effective_configuration(settings: Settings) -> Iterator[tuple[str, str]]:
    """(VARIABLE, shown value) for every setting; secrets show only whether they are set."""
    for name, value in settings:
        if isinstance(value, BaseModel):
            for field, inner in value:
                yield env_name((name, field)), _show(name, field, inner, settings)
        else:
            yield env_name((name,)), str(value)


def _show(group: str, field: str, value: object, settings: Settings) -> str:
    if group == "database" and field == "url":
        if value is None:
            return f"(unset: embedded PostgreSQL under {settings.app.data_dir / 'pg'})"
        url = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return make_url(url).render_as_string(hide_password=True)
    if isinstance(value, SecretStr):
        return "set (hidden)"
    return "(unset)" if value is None else str(value)


async def run_checks(settings: Settings) -> list[Check]:
    async with _database(settings) as (checks, engine):
        return await _other_checks(settings, checks, engine)


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[tuple[list[Check], AsyncEngine | None]]:
    """The database's checks, and one engine on it for every later check that reads it (None unless the database
    is reachable and migrated)."""
    try:
        url = await asyncio.to_thread(resolve_database_url, settings)
    except EmbeddedPostgresError as error:
        yield [Check("database", False, str(error))], None
        return
    engine = create_engine(url, role="doctor", database=settings.database)
    try:
        checks = await database_checks(engine, timeout=settings.database.connect_timeout + 2)
        database_ok = all(check.ok for check in checks)  # reachable and migrated
        if database_ok:
            checks.append(await sources_check(engine))
            if (notifications := await notifications_check(settings, url, engine)) is not None:
                checks.append(notifications)
        checks.extend(await _replica_checks(settings))
        yield checks, engine if database_ok else None
    finally:
        await engine.dispose()


async def _other_checks(settings: Settings, checks: list[Check], engine: AsyncEngine | None) -> list[Check]:
    """The checks after the database's; ``engine`` when the database is reachable and migrated."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        slack, team_id = await _slack(settings, http, engine)
        checks.append(slack)
        checks.append(await _discord(settings, http))
        checks.append(await _llm(settings, http))
    if team_id and settings.slack.tenant is None and engine is not None:
        checks.append(await _workspace_documents(engine, team_id))
    checks.append(_sentry(settings))
    checks.append(access_check(settings))
    checks.append(host_names_check(settings))
    return checks


async def _replica_checks(settings: Settings) -> list[Check]:
    """The read replica (``DATABASE_READ_URL``), checked as the primary is: answers search it."""
    url = settings.database.async_read_url()
    if url is None:
        return []
    engine = create_engine(url, role="doctor", database=settings.database)
    try:
        checks = await database_checks(engine, timeout=settings.database.connect_timeout + 2)
    finally:
        await engine.dispose()
    return [Check(f"replica {check.name}", check.ok, check.detail) for check in checks]


async def sources_check(engine: AsyncEngine) -> Check:
    """A source whose last run failed, or that has not synced for three of its intervals, is a problem."""
    async with session_scope(create_sessionmaker(engine)) as session:
        sources = await list_sources(session)
    if not sources:
        return Check("sources", True, "none (`threadwise sources add`)")
    now = datetime.now(UTC)
    problems = []
    for source in sources:
        if source.state == "failed":
            problems.append(f"{source.tenant}/{source.name} failed: {source.last_error}")
        elif source.every_seconds and not source.paused:
            stale_after = timedelta(seconds=3 * source.every_seconds)
            if now - (source.last_success_at or source.created_at) > stale_after:
                since = source.last_success_at.isoformat(timespec="minutes") if source.last_success_at else "ever"
                problems.append(f"{source.tenant}/{source.name} has not synced since {since}")
    if problems:
        return Check("sources", False, "; ".join(problems))
    return Check("sources", True, f"{len(sources)} synced as scheduled")


def _http_failure(name: str, error: httpx.HTTPError) -> Check:
    reason = "timed out" if isinstance(error, httpx.TimeoutException) else type(error).__name__
    return Check(name, False, f"cannot reach {error.request.url.host}: {reason}")


async def _slack(settings: Settings, http: httpx.AsyncClient, engine: AsyncEngine | None) -> tuple[Check, str | None]:
    """The check, and the workspace's team id when the token works."""
    slack = settings.slack
    if slack.oauth:
        return await _slack_installs(settings, engine), None
    if slack.bot_token is None:
        return Check("slack", True, "not configured"), None
    url = str(slack.api_url).rstrip("/") + "/auth.test"
    try:
        response = await http.post(url, headers={"Authorization": f"Bearer {slack.bot_token.get_secret_value()}"})
        body = response.json()
    except httpx.HTTPError as error:
        return _http_failure("slack", error), None
    except ValueError:
        return Check("slack", False, f"auth.test answered HTTP {response.status_code} without JSON"), None
    if not body.get("ok"):
        return Check(
            "slack", False, f"SLACK_BOT_TOKEN rejected by auth.test: {body.get('error', 'unknown error')}"
        ), None
    mode = "Socket Mode" if slack.app_token else "HTTP events"
    check = Check("slack", True, f"workspace {body.get('team')} as @{body.get('user')} ({mode})")
    return check, body.get("team_id")


async def _slack_installs(settings: Settings, engine: AsyncEngine | None) -> Check:
    """Many workspaces (OAuth installs): how many installed, and whether ``SLACK_TOKENS_SECRET_KEY`` opens their
    tokens (a changed key leaves them unusable until each workspace installs again)."""
    if engine is None:
        return Check(
            "slack", False, "many workspaces (OAuth installs), but their installs cannot be read: see database"
        )
    installed, unopened = await open_installations(settings.slack, create_sessionmaker(engine)).count()
    if unopened:
        return Check(
            "slack",
            False,
            f"{unopened} of {installed} workspace installs were sealed with another SLACK_TOKENS_SECRET_KEY: restore "
            "the key, or have those workspaces install Threadwise again",
        )
    if not installed:
        return Check("slack", True, "many workspaces (OAuth installs): none installed yet; open /slack/install")
    return Check("slack", True, f"many workspaces (OAuth installs): {installed} installed")


async def _workspace_documents(engine: AsyncEngine, team_id: str) -> Check:
    """A fresh install ingests into ``local`` while the workspace's questions search its team id: say so."""
    problem = await FirstRunHelp(create_sessionmaker(engine)).problem(platform="slack", tenant=team_id)
    if problem is not None:
        return Check("tenant", False, problem)
    return Check("tenant", True, f"the workspace's questions search tenant {team_id}")


async def _discord(settings: Settings, http: httpx.AsyncClient) -> Check:
    discord = settings.discord
    if discord.bot_token is None:
        return Check("discord", True, "not configured")
    url = str(discord.api_url).rstrip("/") + "/users/@me"
    try:
        response = await http.get(url, headers={"Authorization": f"Bot {discord.bot_token.get_secret_value()}"})
    except httpx.HTTPError as error:
        return _http_failure("discord", error)
    if response.status_code == 401:
        return Check("discord", False, "DISCORD_BOT_TOKEN rejected (HTTP 401)")
    if response.status_code != 200:
        return Check("discord", False, f"GET /users/@me answered HTTP {response.status_code}")
    bot = f"bot {response.json().get('username', '?')}"
    if not discord.message_content:
        return Check("discord", True, f"{bot}; {MESSAGE_CONTENT_OFF}")
    return await _message_content_allowed(discord, http, bot)


async def _message_content_allowed(discord: DiscordSettings, http: httpx.AsyncClient, bot: str) -> Check:
    """``DISCORD_MESSAGE_CONTENT`` asks for a privileged intent: unless the Developer Portal allows it, Discord
    refuses the gateway connection (4014) and the bot stays offline."""
    url = str(discord.api_url).rstrip("/") + "/applications/@me"
    token = discord.bot_token.get_secret_value() if discord.bot_token else ""
    try:
        response = await http.get(url, headers={"Authorization": f"Bot {token}"})
    except httpx.HTTPError as error:
        return _http_failure("discord", error)
    if response.status_code != 200:
        return Check("discord", False, f"GET /applications/@me answered HTTP {response.status_code}")
    if not reads_message_content(int(response.json().get("flags") or 0)):
        return Check("discord", False, MESSAGE_CONTENT_NOT_ALLOWED)
    return Check("discord", True, f"{bot}; DISCORD_MESSAGE_CONTENT on: follow-ups without a mention are read")


async def _llm(settings: Settings, http: httpx.AsyncClient) -> Check:
    llm = settings.llm
    if llm.model is None:
        return Check("llm", True, "not configured: answers are extracts from the knowledge base")
    if llm.base_url is None:
        return Check("llm", True, f"{llm.model} (vendor API, not contacted)")
    headers = {"Authorization": f"Bearer {llm.api_key.get_secret_value()}"} if llm.api_key else {}
    try:
        response = await http.get(str(llm.base_url).rstrip("/") + "/models", headers=headers)
    except httpx.HTTPError as error:
        return _http_failure("llm", error)
    if response.status_code != 200:
        return Check("llm", False, f"{llm.base_url} answered GET /models with HTTP {response.status_code}")
    return Check("llm", True, f"{llm.model} via {llm.base_url}")


def _sentry(settings: Settings) -> Check:
    if settings.sentry.dsn is None:
        return Check("sentry", True, "not configured")
    parts = urlsplit(settings.sentry.dsn.get_secret_value())
    if parts.scheme not in {"http", "https"} or not parts.username or not parts.path.strip("/"):
        return Check("sentry", False, "SENTRY_DSN is not a Sentry DSN (https://<key>@<host>/<project>)")
    return Check("sentry", True, f"reporting to {parts.hostname}")


def host_names_check(settings: Settings) -> Check:
    """Fails when a production server listens on every interface but answers to loopback names only: Slack's
    events and the dashboard, sent to its public name, would all get a 400."""
    names = ", ".join(settings.web.allowed_hosts)
    if names:
        return Check("host names", True, f"answers to loopback names, WEB_HOST and {names}")
    if settings.environment == "production" and settings.web.host in ("0.0.0.0", "::", ""):  # noqa: S104
        return Check(
            "host names",
            False,
            "WEB_ALLOWED_HOSTS is unset: requests to any name but localhost get a 400; set it to the public "
            "name(s) of this server (the one Slack sends /slack/events to)",
        )
    return Check("host names", True, f"answers to loopback names and {settings.web.host}")


def access_check(settings: Settings) -> Check:
    """Fails when ``WEB_HOST`` reaches beyond this machine and no ``ADMIN_TOKEN`` guards the admin pages and API."""
    problem = open_listener_problem(settings)
    if problem is not None:
        return Check("access", False, problem)
    if settings.admin.token is not None:
        return Check("access", True, "ADMIN_TOKEN guards /admin, /metrics and the API")
    return Check("access", True, f"no ADMIN_TOKEN; listening on {settings.web.host} (this machine) only")
