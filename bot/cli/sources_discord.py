"""``threadwise sources add discord CHANNEL --guild SERVER``: the threads of a Discord forum (or text) channel.

The same source ``/learn on`` adds in Discord (named ``discord-<channel id>``, so that ``/learn off`` finds it), read
with the bot's own ``DISCORD_BOT_TOKEN``. Who may be shown its threads is asked of Discord first: a channel that
@everyone may not view gets a collection of its own, searched only from that channel.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.app import cli_settings, database_url, fail, knowledge_base, run_async, sources_add_app
from bot.cli.sources import EveryOption, SyncOption, add_source

DaysOption = Annotated[int, typer.Option(min=1, max=3650, help="Threads active in this many days.")]


@sources_add_app.command("discord")
def sources_add_discord(
    channel: Annotated[int, typer.Argument(help="The channel's id (Developer Mode → right-click → Copy Channel ID).")],
    guild: Annotated[int, typer.Option(help="The server's id (right-click the server → Copy Server ID).")],
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            "-c",
            help="Collection its threads go to (default: discord-history, or discord-history-<channel> for a "
            "channel @everyone may not view).",
        ),
    ] = None,
    days: DaysOption = 365,
    max_threads: Annotated[int, typer.Option(min=1, help="At most this many threads, the most recent.")] = 1000,
    max_messages: Annotated[int, typer.Option(min=1, help="At most this many messages of a thread.")] = 500,
    name: Annotated[str | None, typer.Option(help="How to refer to it (default: discord-<channel>).")] = None,
    every: EveryOption = None,
    tenant: Annotated[
        str | None, typer.Option(help="Whose knowledge (default: DISCORD_TENANT, or the server's id).")
    ] = None,
    sync: SyncOption = True,
) -> None:
    """A Discord forum or text channel: each of its public threads (a post and its replies) one document.

    Needs DISCORD_BOT_TOKEN, the bot in the server, and "Message Content Intent" on in the Developer Portal."""
    from rich.markup import escape

    from bot.discord.history import audience_of_channel, collection_for, source_name
    from bot.discord.history_api import DiscordRest
    from knowledge.audience import TENANT_WIDE
    from knowledge.sources.protocol import ConnectorError

    settings = cli_settings(log_level="WARNING")
    if not settings.discord.enabled:
        fail("set DISCORD_BOT_TOKEN: the source reads Discord with the bot's token")
    owner = tenant or settings.discord.tenant or str(guild)

    async def prepare() -> str:
        """The channel's audience, and its collection made for it when only the channel may see it."""
        rest = await DiscordRest.login(settings.discord)
        try:
            audience = await audience_of_channel(rest, guild=guild, channel=channel)
        finally:
            await rest.aclose()
        target = collection or collection_for(audience, channel)
        if audience != TENANT_WIDE:
            async with knowledge_base(settings, database_url(settings)) as kb:
                await kb.collection_for(tenant=owner, name=target, audience=audience)
        return target

    try:
        target = run_async(prepare())
    except ConnectorError as error:
        fail(escape(str(error)))
    add_source(
        kind="discord",
        name=name or source_name(channel),
        collection=target,
        settings={
            "guild": guild,
            "channel": channel,
            "days": days,
            "max_threads": max_threads,
            "max_messages": max_messages,
        },
        every=every,
        tenant=owner,
        sync=sync,
    )
