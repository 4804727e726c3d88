"""``/threadwise learn on|off``: a channel's threads become a source the worker keeps in step (``bot.slack.history``).

``on`` stores the source ``slack-<channel id>`` for the workspace's tenant (or resumes it), synced every 6 hours;
the worker's scheduler gives a new source its first run within a minute (the web process never syncs). A public
channel's threads go to the collection ``slack-history``, shown in every channel; a private channel's to
``slack-history-<channel id>``, shown only in that channel.

``off`` pauses the source and keeps what was learnt (a paused source costs nothing, and ``on`` resumes it without
reading everything again); the reply says how an operator removes it and its documents. Removing is left to the
command line on purpose: it deletes knowledge for the whole workspace, and is not undone by ``on``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.formatting import escape
from bot.slack.history import collection_for, source_name
from core.logging import get_logger
from knowledge.errors import KnowledgeError
from knowledge.sources.service import Sources, SourceStatus

log = get_logger(__name__)

EVERY_SECONDS = 6 * 3600
_TEAM = re.compile(r"T[A-Z0-9]{2,30}")
_ENTERPRISE = re.compile(r"E[A-Z0-9]{2,30}")
USAGE = "Use `/threadwise learn on` to learn from this channel's threads, `/threadwise learn off` to stop."


async def learn(
    sources: Sources | None,
    client: AsyncWebClient,
    *,
    tenant: str,
    channel: str,
    verb: str,
    workspace: dict[str, str] | None = None,
) -> str:
    """The reply to ``/threadwise learn <verb>`` from an admin in ``channel`` (mrkdwn, escaped). ``workspace``:
    the command's ``team_id`` (and ``enterprise_id`` for an org-wide install), whose install reads the channel when
    the deployment serves many workspaces."""
    if sources is None:
        return "Learning from channels is not available here: this process has no access to the sources."
    if verb == "on":
        return await _on(sources, client, tenant=tenant, channel=channel, workspace=_workspace_settings(workspace))
    if verb == "off":
        return await _off(sources, tenant=tenant, channel=channel)
    status = await _status(sources, tenant=tenant, channel=channel)
    if status is None or status.paused:
        return f"Not learning from this channel. {USAGE}"
    return f"{_progress(status)} {USAGE}"


def _workspace_settings(workspace: dict[str, str] | None) -> dict[str, str]:
    """The source's ``team`` and ``enterprise`` settings (only ids of the shape Slack gives)."""
    found = workspace or {}
    wanted = {"team": (found.get("team_id"), _TEAM), "enterprise": (found.get("enterprise_id"), _ENTERPRISE)}
    return {name: value for name, (value, shape) in wanted.items() if value and shape.fullmatch(value)}


async def _on(sources: Sources, client: AsyncWebClient, *, tenant: str, channel: str, workspace: dict[str, str]) -> str:
    try:
        info = (await client.conversations_info(channel=channel)).get("channel") or {}
    except SlackApiError as error:
        code = str(error.response.get("error") or "unknown_error")
        if code == "channel_not_found":  # a private channel the bot is not in does not exist for it
            return "I can't see this channel: invite me with `/invite @Threadwise`, then `/threadwise learn on` again."
        log.warning("slack conversations.info failed", channel=channel, error=code)
        return f"Slack would not tell me about this channel ({escape(code)}); nothing was changed."
    name = escape(str(info.get("name") or channel))
    if info.get("is_im") or info.get("is_mpim"):
        return "Only channels can be learnt from, not direct messages."
    if not info.get("is_member"):
        return f"Invite me to #{name} first (`/invite @Threadwise`), then `/threadwise learn on` again."
    private = bool(info.get("is_private"))
    collection, audience = collection_for(channel, private=private)
    where = "quoted only in this channel (it is private)" if private else "quoted in any channel of the workspace"
    into = f"into `{collection}`, {where}. My own answers are never learnt."
    before = ""
    try:
        status = await _status(sources, tenant=tenant, channel=channel)
        if status is not None and status.collection != collection and status.collection in _made_here(channel):
            # The channel went private (or public) since: its threads must not stay where the wrong people search.
            removed = await sources.remove(tenant=tenant, name=status.name)
            now = "private" if private else "public"
            before = f"This channel is now {now}: what was learnt from it before ({_threads(removed)}) was removed. "
            status = None
        if status is not None and not status.paused:
            return _progress(status)
        if status is not None:
            await sources.pause(tenant=tenant, name=status.name, paused=False)
            resumed = await sources.get(tenant=tenant, name=status.name)
            when = _when(resumed.next_run_at) if resumed.next_run_at is not None else "soon"
            return f"Learning from #{name} again: its threads are read next {when}, then every 6 hours, {into}"
        await sources.add(
            tenant=tenant,
            name=source_name(channel),
            kind="slack",
            collection=collection,
            settings={"channel": channel, **workspace},
            every_seconds=EVERY_SECONDS,
            audience=audience,
        )
    except KnowledgeError as error:  # the collection is another audience's, or a run is under way
        return f"{before}Could not start learning from #{name}: {escape(str(error))}"
    log.info("slack channel learnt", tenant=tenant, channel=channel, private=private)
    return (
        f"{before}Learning from #{name}: its threads with replies are read within a minute, then every 6 hours, {into}"
    )


def _made_here(channel: str) -> set[str]:
    """The collections ``learn on`` puts a channel's threads in (one an operator chose is left alone)."""
    return {collection_for(channel, private=private)[0] for private in (False, True)}


async def _off(sources: Sources, *, tenant: str, channel: str) -> str:
    status = await _status(sources, tenant=tenant, channel=channel)
    if status is None:
        return f"Not learning from this channel. {USAGE}"
    if not status.paused:
        await sources.pause(tenant=tenant, name=status.name)
    remove = f"threadwise sources remove {status.name} --tenant {escape(tenant)}"
    return (
        f"Stopped learning from this channel. The {_threads(status.items)} learnt so far can still be quoted; "
        f"`/threadwise learn on` resumes. To remove them, an operator runs `{remove}`."
    )


async def _status(sources: Sources, *, tenant: str, channel: str) -> SourceStatus | None:
    try:
        return await sources.get(tenant=tenant, name=source_name(channel))
    except KnowledgeError:  # no such source
        return None


def _progress(status: SourceStatus) -> str:
    if status.last_error:
        return f"Learning from this channel, but the last read failed: {escape(status.last_error)}"
    if status.last_success_at is None:
        return "Learning from this channel: its first read starts within a minute."
    return f"Learning from this channel: {_threads(status.items)}, last read {_when(status.last_success_at)}."


def _threads(count: int) -> str:
    return f"{count} thread" if count == 1 else f"{count} threads"


def _when(moment: datetime) -> str:
    """A time each reader sees in their own time zone."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
