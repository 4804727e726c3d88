"""Register the slash commands with Discord only when they changed since the last registration.

Discord limits how often commands may be registered (and a global change takes a while to reach every client), so
a restart must not re-register an unchanged set. A hash of the command set is kept per application and scope in
``APP_DATA_DIR/discord/``; a process without it (a fresh container) registers once and writes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

from core.logging import get_logger

log = get_logger(__name__)


def command_set_hash(tree: app_commands.CommandTree[commands.Bot], guild: discord.abc.Snowflake | None) -> str:
    payload = sorted((command.to_dict(tree) for command in tree.get_commands(guild=guild)), key=lambda c: c["name"])
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def sync_if_changed(bot: commands.Bot, *, data_dir: Path, dev_guild_id: int | None) -> None:
    """Register to the development server when one is configured, globally otherwise."""
    guild = discord.Object(id=dev_guild_id) if dev_guild_id is not None else None
    if guild is not None:
        bot.tree.copy_global_to(guild=guild)
    scope = f"guild-{dev_guild_id}" if dev_guild_id is not None else "global"
    marker = data_dir / "discord" / f"commands-{bot.application_id}-{scope}.sha256"
    digest = command_set_hash(bot.tree, guild)
    try:
        if marker.read_text().strip() == digest:
            log.info("discord commands unchanged; not registering them", scope=scope)
            return
    except OSError:
        pass  # never registered from here
    synced = await bot.tree.sync(guild=guild)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(digest + "\n")
    except OSError as error:  # registering worked; the next start registers again, harmlessly
        log.warning("could not remember the registered commands", exc_info=error)
    log.info("discord commands registered", scope=scope, count=len(synced))
