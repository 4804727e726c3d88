"""``/threadwise mode``, ``collections``, ``followups`` and ``forum``: per-channel settings for members who may manage
the server.

Only ``mention`` and ``off``: Slack's ``auto`` needs to read unaddressed messages, which Discord hides from a bot
without the privileged Message Content intent.

``default_permissions`` hides the commands from everyone else, but a server can grant them to anyone in its
integration settings, so the permission is checked here too.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.channels import AddressedMode, change_collections, change_follow_ups
from bot.discord.bot import ThreadwiseBot, threadwise_bot
from bot.discord.forum_posts import ForumChoice, change_answer_posts, forum_of
from bot.discord.managers import server_managers_only
from bot.discord.places import place_of
from bot.follow_ups import FollowUpMode

REFUSED = "Only members who can manage this server can change this channel's settings."
AUTO_UNSUPPORTED = (
    "`auto` is not available on Discord: it would read every message in the channel, so here the bot answers "
    "mentions (and, with DISCORD_MESSAGE_CONTENT, follow-ups in threads it answered)."
)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(commands.GroupCog, group_name="threadwise", group_description="This channel's Threadwise settings."):
    def __init__(self, bot: ThreadwiseBot) -> None:
        self.bot = bot
        self.deps = bot.deps
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await server_managers_only(interaction, REFUSED)

    @app_commands.command(name="mode", description="When to answer in this channel: mention (default) or off.")
    @app_commands.describe(mode="mention: when mentioned; off: stay quiet")
    async def mode(self, interaction: discord.Interaction, mode: AddressedMode | None = None) -> None:
        tenant = self.deps.tenant_of(interaction.guild_id)
        channel = place_of(interaction.channel, interaction.channel_id).channel
        if mode is None:
            current = await self.deps.channels.get(tenant=tenant, platform="discord", channel=channel)
            text = f"This channel's mode is `{current.mode}`. Use `/threadwise mode mention|off`."
            if current.mode == "auto":  # stored before Discord dropped the mode
                text += f" {AUTO_UNSUPPORTED}"
        else:
            by = str(interaction.user.id)
            await self.deps.channels.update(tenant=tenant, platform="discord", channel=channel, by=by, mode=mode)
            text = f"Mode set to `{mode}`."
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="collections", description="Which collections this channel searches.")
    @app_commands.describe(names="Collection names, comma-separated, or `all`; empty shows the current choice")
    async def collections(self, interaction: discord.Interaction, names: str | None = None) -> None:
        text = await change_collections(
            self.deps.channels,
            tenant=self.deps.tenant_of(interaction.guild_id),
            platform="discord",
            channel=place_of(interaction.channel, interaction.channel_id).channel,
            by=str(interaction.user.id),
            names=names or "",
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="followups", description="Who may follow up without a mention in this channel.")
    @app_commands.describe(choice="asker (default), anyone, or off; empty shows the current choice")
    async def followups(self, interaction: discord.Interaction, choice: FollowUpMode | None = None) -> None:
        text = await change_follow_ups(
            self.deps.channels,
            tenant=self.deps.tenant_of(interaction.guild_id),
            platform="discord",
            channel=place_of(interaction.channel, interaction.channel_id).channel,
            by=str(interaction.user.id),
            choice=choice or "",
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="forum", description="Whether each new post in a forum is answered as a question.")
    @app_commands.describe(
        choice="on: answer every new post; off: only posts that mention me; empty shows the current choice",
        channel="The forum (default: the forum of the post this is used in)",
    )
    async def forum(
        self,
        interaction: discord.Interaction,
        choice: ForumChoice | None = None,
        channel: discord.ForumChannel | None = None,
    ) -> None:
        text = await change_answer_posts(
            self.deps.channels,
            tenant=self.deps.tenant_of(interaction.guild_id),
            forum=channel or forum_of(interaction.channel),
            by=str(interaction.user.id),
            choice=choice,
            reads_posts=self.bot.intents.message_content,
        )
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Admin(threadwise_bot(bot)))
