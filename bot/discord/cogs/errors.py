"""One error handler for the slash commands: the person gets a short apology with a reference id (only they see
it); the error is reported (Sentry, whose event id is the reference), counted and logged with its context, as
Slack's listeners do."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from core.logging import get_logger
from core.metrics import count_error
from core.sentry import report_failure

log = get_logger(__name__)

APOLOGY = "Sorry, something went wrong on my side. Reference: {reference}"


async def on_app_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    if isinstance(error, app_commands.CheckFailure):
        return  # refused by a check, which has answered already
    # The command's own exception (discord.py wraps it): what Sentry should group and show.
    original: BaseException = getattr(error, "original", error)
    reference = report_failure(original)
    count_error("discord_command")
    log.error(
        "discord command failed",
        reference_id=reference,
        command=interaction.command.qualified_name if interaction.command else None,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        exc_info=original,
    )
    text = APOLOGY.format(reference=reference)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as notify_error:
        log.error("discord apology not delivered", reference_id=reference, exc_info=notify_error)


async def setup(bot: commands.Bot) -> None:
    bot.tree.on_error = on_app_command_error  # type: ignore[method-assign]
