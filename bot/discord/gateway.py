"""Run the bot's gateway connection inside a process's lifetime (``threadwise serve``)."""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack, suppress
from pathlib import Path

import yarl

from bot.discord.bot import create_bot
from bot.discord.deps import DiscordDeps
from bot.discord.endpoints import apply_endpoints
from core.logging import get_logger
from core.settings import DiscordSettings

log = get_logger(__name__)

GATEWAY_CHECK_SECONDS = 10.0


class GatewayUnreachableError(RuntimeError):
    """The Discord gateway cannot be reached; the message is one line for the operator."""


async def check_gateway_reachable(settings: DiscordSettings) -> None:
    """Connect to the gateway's host and port once. discord.py would retry an unreachable gateway in the
    background, logging a traceback each time (and its first connection gives up with an AttributeError), while
    the process keeps running without Discord; at start-up that is a mistake better said once."""
    url = yarl.URL(settings.gateway_url)
    problem = f"cannot reach the Discord gateway at {url}"
    try:
        async with asyncio.timeout(GATEWAY_CHECK_SECONDS):
            _, writer = await asyncio.open_connection(url.host, url.port)
    except TimeoutError:
        raise GatewayUnreachableError(f"{problem}: no answer within {GATEWAY_CHECK_SECONDS:g} s") from None
    except OSError as error:
        raise GatewayUnreachableError(f"{problem}: {_reason(error)}") from None
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()


def _reason(error: OSError) -> str:
    # asyncio words a refused connection as "Connect call failed (host, port)"; the system's words say why.
    if isinstance(error, ConnectionError) and error.errno:
        return os.strerror(error.errno)
    return error.strerror or str(error) or type(error).__name__


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        log.error("discord gateway stopped", exc_info=error)


async def start_gateway(stack: AsyncExitStack, settings: DiscordSettings, deps: DiscordDeps, *, data_dir: Path) -> None:
    """Log in (checks the token, registers changed commands), then connect in the background; ``stack`` closes it.

    discord.py reconnects (and resumes) by itself after network errors.
    """
    if settings.bot_token is None:
        raise ValueError("DISCORD_BOT_TOKEN is not set")
    apply_endpoints(settings)
    bot = create_bot(deps, settings, data_dir=data_dir)
    try:
        await bot.login(settings.bot_token.get_secret_value())
    except BaseException:
        await bot.close()
        raise
    task = asyncio.create_task(bot.connect(reconnect=True), name="threadwise-discord-gateway")
    task.add_done_callback(_report_end)

    async def stop() -> None:
        if bot.ws is not None and not bot.is_ready():
            # Stopping while the servers arrive would drop discord.py's pending on_ready (a warning, no harm);
            # the wait is at most a few seconds and only during start-up.
            with suppress(TimeoutError):
                await asyncio.wait_for(bot.wait_until_ready(), timeout=settings.guild_ready_timeout + 1)
        await bot.close()
        with suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=10)

    stack.push_async_callback(stop)
