"""``/threadwise ask|forget|help|mode|collections|followups|learn`` (all but the first three for workspace admins and
``SLACK_ADMIN_USER_IDS``). Everything is acknowledged at once; ``ask`` goes through the queue like a mention."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels import REPLY_MODES, ReplyMode, change_collections, change_follow_ups
from bot.events import ChatEvent, enqueue_question
from bot.slack.admins import is_admin
from bot.slack.deps import SlackDeps
from bot.slack.formatting import quote_message
from bot.slack.learning import learn
from bot.slack.workspaces import workspace_delivery
from core.logging import get_logger

log = get_logger(__name__)

FORGOTTEN = "Forgotten: the next question here starts a new conversation."
HELP = """*Threadwise* answers questions from your team's documents, with sources.
• `@Threadwise <question>` in a channel (answered in a thread), or a direct message
• In a thread I answered, ask a follow-up without mentioning me
• `/threadwise ask <question>`: ask here; the answer is posted to the channel
• `/threadwise forget`: forget this channel's conversations (the next question starts afresh)
• React 👍 or 👎 to an answer to tell us whether it helped
Admins: react ✅ to a good answer to save it as a verified answer (preferred for similar questions)
Admins: `/threadwise mode mention|auto|off` (auto: also answer questions asked without a mention),
`/threadwise collections <name,name…>|all` (what this channel searches),
`/threadwise followups asker|anyone|off` (who may follow up in my threads without a mention),
`/threadwise learn on|off` (learn from this channel's threads, so that answers can quote what the team answered)"""


def register(app: AsyncApp, deps: SlackDeps) -> None:
    @app.command("/threadwise")
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        verb, _, rest = (command.get("text") or "").strip().partition(" ")
        verb, rest = verb.lower(), rest.strip()
        tenant = deps.tenant_of(command)  # slash commands carry team_id like event envelopes
        channel, user = command["channel_id"], command["user_id"]
        if verb == "ask" and rest:
            event = ChatEvent(
                platform="slack",
                event_id=f"command:{command.get('trigger_id') or command.get('command_ts') or channel + rest}",
                tenant=tenant,
                channel=channel,
                user_id=user,
                text=rest,
                delivery={"asked_by": user, **workspace_delivery(command)},
                collections=(await deps.channels.get(tenant=tenant, platform="slack", channel=channel)).collections,
            )
            await enqueue_question(deps.queue, event)
            await ack(text=f"Looking into it: _{quote_message(rest[:200])}_")
        elif verb == "forget":
            count = await deps.forget_channel(tenant=tenant, platform="slack", channel=channel)
            await ack(
                text="Forgotten: the next question here starts a new conversation."
                if count
                else "Nothing to forget here."
            )
        elif verb in ("mode", "collections", "followups"):
            if not await is_admin(client, user, deps.admins):
                await ack(text="Only workspace admins can change this channel's settings.")
                return
            await ack(text=await _change_settings(deps, tenant, channel, user, verb, rest))
        elif verb == "learn":
            if not await is_admin(client, user, deps.admins):
                await ack(text="Only workspace admins can choose which channels Threadwise learns from.")
                return
            reply = await learn(
                deps.sources,
                client,
                tenant=tenant,
                channel=channel,
                verb=rest.lower(),
                workspace=workspace_delivery(command),
            )
            await ack(text=reply)
        else:
            await ack(text=HELP)


async def _change_settings(deps: SlackDeps, tenant: str, channel: str, user: str, verb: str, rest: str) -> str:
    if verb == "collections":
        return await change_collections(
            deps.channels, tenant=tenant, platform="slack", channel=channel, by=user, names=rest
        )
    if verb == "followups":
        return await change_follow_ups(
            deps.channels, tenant=tenant, platform="slack", channel=channel, by=user, choice=rest
        )
    if rest not in REPLY_MODES:
        current = await deps.channels.get(tenant=tenant, platform="slack", channel=channel)
        return f"This channel's mode is `{current.mode}`. Use `/threadwise mode mention|auto|off`."
    mode: ReplyMode = next(m for m in REPLY_MODES if m == rest)
    await deps.channels.update(tenant=tenant, platform="slack", channel=channel, by=user, mode=mode)
    return f"Mode set to `{mode}`."
