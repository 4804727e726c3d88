"""``threadwise sources add slack CHANNEL``: the threads of a Slack channel, as ``/threadwise learn on`` adds them.

The same source the slash command makes (named ``slack-<channel id>``, so that ``/threadwise learn off`` finds it),
read with the deployment's ``SLACK_BOT_TOKEN``. Slack is asked first whether the channel is private and whether the
bot is in it: a private channel gets a collection of its own, searched only from that channel.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.app import cli_settings, database_url, fail, knowledge_base, run_async, sources_add_app
from bot.cli.sources import EveryOption, SyncOption, add_source


@sources_add_app.command("slack")
def sources_add_slack(
    channel: Annotated[str, typer.Argument(help="The channel's id, C… (channel details → About, at the bottom).")],
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            "-c",
            help="Collection its threads go to (default: slack-history, or slack-history-<channel> for a private "
            "channel).",
        ),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=730, help="Threads started in this many days.")] = 365,
    max_threads: Annotated[
        int, typer.Option(min=1, max=20_000, help="At most this many threads, the most recent.")
    ] = 2000,
    max_messages: Annotated[int, typer.Option(min=2, max=5000, help="At most this many messages of a thread.")] = 500,
    name: Annotated[str | None, typer.Option(help="How to refer to it (default: slack-<channel>).")] = None,
    every: EveryOption = None,
    tenant: Annotated[
        str | None, typer.Option(help="Whose knowledge (default: SLACK_TENANT, or the workspace's id).")
    ] = None,
    sync: SyncOption = True,
) -> None:
    """A Slack channel: each thread with replies (the question and its answers) one document.

    Needs SLACK_BOT_TOKEN, the bot invited to the channel, and the history scopes of docs/slack-manifest.yml."""
    from rich.markup import escape

    from bot.slack.history import channel_facts, collection_for, source_name
    from knowledge.sources.protocol import ConnectorError

    settings = cli_settings(log_level="WARNING")
    if settings.slack.oauth:
        fail(
            "this deployment serves many Slack workspaces (OAuth installs): add the channel from Slack instead, with "
            "`/threadwise learn on` in it, which names its workspace"
        )
    if not settings.slack.enabled:
        fail("set SLACK_BOT_TOKEN: the source reads Slack with the bot's token")
    try:
        facts = run_async(channel_facts(settings.slack, channel))
    except ConnectorError as error:
        fail(escape(str(error)))
    if not facts.member:
        fail(f"Threadwise is not in #{escape(facts.name)}: invite it with `/invite @Threadwise` in the channel first")
    owner = tenant or settings.slack.tenant or facts.team
    target, audience = collection_for(channel, private=facts.private)
    target = collection or target

    async def prepare() -> None:
        """A private channel's collection is made for the channel alone before anything is written to it."""
        async with knowledge_base(settings, database_url(settings)) as kb:
            await kb.collection_for(tenant=owner, name=target, audience=audience)

    if facts.private:
        run_async(prepare())
    add_source(
        kind="slack",
        name=name or source_name(channel),
        collection=target,
        settings={"channel": channel, "days": days, "max_threads": max_threads, "max_messages": max_messages},
        every=every,
        tenant=owner,
        sync=sync,
    )
