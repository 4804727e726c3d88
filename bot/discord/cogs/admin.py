"""``/threadwise mode`` and ``/threadwise collections``: per-channel settings for members who may manage the server.

``default_permissions`` hides the commands from everyone else, but a server can grant them to anyone in its
integration settings, so the permission is checked here too.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import ThreadwiseBot, threadwise_bot
from bot.discord.places import place_of

REFUSED = "Only members who can manage this server can change this channel's settings."


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="threadwise", group_description="This channel's Threadwise settings."):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        self.deps = bot.deps
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.permissions.manage_guild:
            return True
        await interaction.response.send_message(REFUSED, ephemeral=True)
        return False

    @app_commands.command(name="mode", description="When to answer here: mention (default), auto, or off.")
    @app_commands.describe(mode="mention: when mentioned; auto: also plain questions; off: stay quiet")
    async def mode(
        self, interaction: discord.Interaction, mode: Literal["mention", "auto", "off"] | None = None
    ) -> None:
        tenant = self.deps.tenant_of(interaction.guild_id)
        channel = place_of(interaction.channel, interaction.channel_id).channel
        if mode is None:
            current = await self.deps.channels.get(tenant=tenant, platform="discord", channel=channel)
            text = f"This channel's mode is `{current.mode}`."
        else:
            by = str(interaction.user.id)
            await self.deps.channels.update(tenant=tenant, platform="discord", channel=channel, by=by, mode=mode)
            text = f"Mode set to `{mode}`."
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="collections", description="Which collections this channel searches.")
    @app_commands.describe(names="Collection names, comma-separated, or `all`; empty shows the current choice")
    async def collections(self, interaction: discord.Interaction, names: str | None = None) -> None:
        tenant = self.deps.tenant_of(interaction.guild_id)
        channel = place_of(interaction.channel, interaction.channel_id).channel
        by = str(interaction.user.id)
        chosen = [name.strip() for name in (names or "").replace(" ", ",").split(",") if name.strip()]
        if not chosen:
            current = await self.deps.channels.get(tenant=tenant, platform="discord", channel=channel)
            shown = ", ".join(current.collections) if current.collections else "all collections"
            text = f"This channel searches {shown}."
        elif chosen == ["all"]:
            await self.deps.channels.update(
                tenant=tenant, platform="discord", channel=channel, by=by, clear_collections=True
            )
            text = "This channel now searches all collections."
        else:
            await self.deps.channels.update(
                tenant=tenant, platform="discord", channel=channel, by=by, collections=chosen
            )
            text = f"This channel now searches {', '.join(chosen)}."
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Admin(threadwise_bot(bot)))
