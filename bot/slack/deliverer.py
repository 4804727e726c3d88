"""Posts answers to Slack for the worker: 👀 at once, the answer shown as it is written, then the final message
with the sources under it.

The answer is shown as it is written in one of two ways, one call per ``update`` either way (the worker calls it
about once a second; two when a stream is refused or ends and an edited message takes over):

- Natively streamed in the question's thread (``chat.startStream``, ``chat.appendStream``), where the workspace
  allows it and ``SLACK_NATIVE_STREAMING`` is on (the default): Slack renders the Markdown as it arrives, and
  ``chat.stopStream`` adds the rest of the answer and the sources under it. When the final text is not the streamed
  text continued (the citations were renumbered, say), the stream is stopped and edited into the answer.
- Otherwise in a placeholder edited with ``chat.update``: a slash command's answer in the channel (streams need a
  thread), a workspace or channel whose ``chat.startStream`` refused (not asked again for an hour), a stream Slack
  ended before the answer was (it does after some minutes), the setting off.

The worker stores the ts of the message as soon as it is posted; a job retaken after a crash ``resume``s with it,
stops the stream the crashed run may have left open (what reached it is not known) and edits it to the end, so the
person sees one answer rather than a stuck partial one and a second."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from agent.schemas import AnswerReply
from bot.events import ChatEvent
from bot.slack.formatting import answer_messages, preface, split_text, to_mrkdwn
from bot.slack.stop_button import with_stop_button
from bot.slack.stream_markdown import STREAM_LIMIT, render, settled
from core.logging import get_logger

log = get_logger(__name__)

WORKING_REACTION = "eyes"
ASSISTANT_STATUS = "is searching the docs…"
ASSISTANT_LOADING = ["Searching the docs…", "Reading what they say…", "Writing the answer…"]
"""Shown in turn under an assistant thread until the answer (or its stream) is posted, which clears it."""
GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""``chat.update``'s errors for a message that cannot be edited any more (deleted, say): post a new one instead."""
ENDED = frozenset({"message_not_in_streaming_state", "stopped_by_user"})
"""A stream's message that takes no more text (Slack ended the stream, or someone stopped it): edit it instead."""
NOT_IN_CHANNEL = frozenset({"channel_type_not_supported", "method_not_supported_for_channel_type"})
"""``chat.startStream``'s refusals for the kind of channel asked in."""
NOT_IN_WORKSPACE = frozenset(
    {
        "not_allowed_token_type",
        "unknown_method",
        "method_deprecated",
        "deprecated_endpoint",
        "enterprise_is_restricted",
        "invalid_arguments",
        "missing_recipient_team_id",
        "missing_recipient_user_id",
    }
)
"""``chat.startStream``'s refusals that say streams are not to be had in this workspace (its token, its plan, this
API) or not with the arguments Threadwise can give."""


@dataclass
class _Stream:
    ts: str
    sent: str = ""
    """The Markdown appended so far, as Slack holds it."""
    unsure: bool = False
    """An append failed without Slack's answer, so what the message holds is not known: the answer replaces it."""


def _without_rate_limit_retries(client: AsyncWebClient) -> AsyncWebClient:
    """``client`` (its connections, its other retries) answering a 429 at once rather than after Retry-After."""
    quick = copy.copy(client)
    quick.retry_handlers = [h for h in client.retry_handlers if not isinstance(h, AsyncRateLimitErrorRetryHandler)]
    return quick


def _retry_after(response: AsyncSlackResponse) -> float:
    value = str(response.headers.get("Retry-After", ""))  # aiohttp's headers: any case
    return float(value) if value.isdigit() else 60.0


class SlackDeliverer:
    refused_for = 3600.0
    """Seconds a workspace (or channel) whose ``chat.startStream`` refused goes without being asked again."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        native_streaming: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        # chat.startStream's client: a 429 is answered at once (see ``_start``); its connections are client's.
        self._starter = _without_rate_limit_retries(client)
        self.native_streaming = native_streaming
        self._clock = clock
        self._placeholders: dict[str, str] = {}  # event id → ts of the message edited with chat.update
        self._streams: dict[str, _Stream] = {}  # event id → the stream the answer is written into
        self._resumed: set[str] = set()  # events whose earlier run's message may be a stream still open
        self._refused: dict[str, float] = {}  # team (or team/channel) → when to try streaming there again

    def _thread(self, event: ChatEvent) -> str | None:
        return event.delivery.get("thread_ts") or None

    async def working(self, event: ChatEvent) -> None:
        if event.delivery.get("assistant"):
            await self._assistant_working(event)
            return
        question_ts = event.delivery.get("question_ts") or event.message_id
        try:
            await self.client.reactions_add(channel=event.channel, timestamp=question_ts, name=WORKING_REACTION)
        except SlackApiError as error:  # already reacted (a retried job), or the message is gone
            log.info("slack working reaction skipped", error=error.response.get("error"))

    async def _assistant_working(self, event: ChatEvent) -> None:
        """In Slack's assistant container the status under the thread says the bot is on it (rather than a 👀),
        and the thread's first question becomes its title."""
        thread = event.delivery.get("thread_ts", "")
        try:
            await self.client.assistant_threads_setStatus(
                channel_id=event.channel, thread_ts=thread, status=ASSISTANT_STATUS, loading_messages=ASSISTANT_LOADING
            )
            if title := event.delivery.get("title"):
                await self.client.assistant_threads_setTitle(channel_id=event.channel, thread_ts=thread, title=title)
        except SlackApiError as error:  # not an assistant thread after all (a DM's own thread), say
            log.info("slack assistant status skipped", error=error.response.get("error"))

    def resume(self, event: ChatEvent, placeholder_id: str) -> None:
        self._placeholders[event.event_id] = placeholder_id
        if self.native_streaming:
            self._resumed.add(event.event_id)

    def offers_stop(self, event: ChatEvent) -> bool:
        """An edited message has the Stop button (a native stream takes no buttons until it ends)."""
        return event.event_id in self._placeholders

    async def update(self, event: ChatEvent, partial_text: str) -> str | None:
        """Returns the ts of the message when this call posted it (a stream's or a placeholder's)."""
        await self._stop_resumed(event)
        stream = self._streams.get(event.event_id)
        if stream is not None:
            if await self._append(event, stream, partial_text):
                return None
        elif event.event_id not in self._placeholders and self._may_stream(event):
            started = await self._start(event, partial_text)
            if started is not None:
                return started
        return await self._update_placeholder(event, partial_text)

    async def deliver(self, event: ChatEvent, reply: AnswerReply) -> str:
        """Returns the ts of the message holding the answer's last part (the one with the sources)."""
        await self._stop_resumed(event)
        stream = self._streams.get(event.event_id)
        if stream is not None and await self._finish(event, stream, reply):
            self._streams.pop(event.event_id, None)  # kept until stopped: a retried delivery stops it again
            return stream.ts
        asked_by = event.delivery.get("asked_by")  # a slash command: the channel has not seen the question
        messages = answer_messages(reply, preface=preface(asked_by, event.text[:300]) if asked_by else None)
        placeholder = self._placeholders.get(event.event_id)
        last_ts = ""
        for index, (text, blocks) in enumerate(messages):
            response = None
            if index == 0 and placeholder is not None:
                response = await self._edit(event, placeholder, text=text, blocks=blocks)
            if response is None:
                response = await self.client.chat_postMessage(
                    channel=event.channel, text=text, blocks=blocks, unfurl_links=False, thread_ts=self._thread(event)
                )
            last_ts = str(response["ts"])
        self._placeholders.pop(event.event_id, None)  # kept until posted: a retried delivery edits it again
        return last_ts

    # --- native streaming ------------------------------------------------------------------------------------

    def _may_stream(self, event: ChatEvent) -> bool:
        team = event.delivery.get("team_id")
        if not (self.native_streaming and team and self._thread(event)) or event.delivery.get("asked_by"):
            return False
        now = self._clock()
        return all(self._refused.get(key, now) <= now for key in (team, f"{team}/{event.channel}"))

    def _refuse(self, key: str, seconds: float) -> None:
        now = self._clock()
        self._refused = {k: until for k, until in self._refused.items() if until > now}
        self._refused[key] = now + seconds

    async def _start(self, event: ChatEvent, partial_text: str) -> str | None:
        """The ts of the stream started with the answer so far; None when Slack refused it: this answer is then
        written into an edited message, and a refusal that holds for the channel or the workspace (or a 429) is
        remembered for a while."""
        text = render(settled(partial_text))
        if len(text) > STREAM_LIMIT:  # more than a streamed message holds: edits split it as they always did
            return None
        team = event.delivery["team_id"]
        try:
            # chat.startStream allows about 20 calls a minute (Slack's tier 2): a 429 is not waited out (the answer
            # would stall), the workspace's answers are edited instead until Retry-After has passed.
            response = await self._starter.chat_startStream(
                channel=event.channel,
                thread_ts=event.delivery["thread_ts"],
                markdown_text=text or None,
                recipient_team_id=team,
                recipient_user_id=event.user_id,
            )
        except SlackApiError as error:
            code = error.response.get("error")
            for_seconds: float | None = None
            scope = team
            if error.response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
                for_seconds = _retry_after(error.response)
            elif code in NOT_IN_CHANNEL | NOT_IN_WORKSPACE:
                for_seconds = self.refused_for
                scope = f"{team}/{event.channel}" if code in NOT_IN_CHANNEL else team
            if for_seconds is not None:
                self._refuse(scope, for_seconds)
            log.info(
                "slack stream refused; editing a message instead",
                error=code,
                refused_for=scope if for_seconds is not None else "this answer",
                retry_in_seconds=for_seconds,
            )
            return None
        stream = self._streams[event.event_id] = _Stream(ts=str(response["ts"]), sent=text)
        return stream.ts

    async def _append(self, event: ChatEvent, stream: _Stream, partial_text: str) -> bool:
        """Append what was written since; False when the stream takes no more (the placeholder path goes on)."""
        text = render(settled(partial_text))
        # Nothing new, more than a streamed message holds, or a rendering that no longer continues what was sent
        # (rare: a line turned into a table's header): nothing to add now; the final answer shows it all.
        if len(text) > STREAM_LIMIT or not text.startswith(stream.sent) or text == stream.sent:
            return True
        try:
            await self.client.chat_appendStream(
                channel=event.channel, ts=stream.ts, markdown_text=text[len(stream.sent) :]
            )
        except SlackApiError as error:  # Slack answered (a 429 was retried first): the text was not appended
            if self._stream_over(event, stream, error):
                return False
            raise
        except Exception:
            stream.unsure = True
            raise
        stream.sent = text
        return True

    async def _finish(self, event: ChatEvent, stream: _Stream, reply: AnswerReply) -> bool:
        """Stop the stream with the rest of the answer and the blocks under it (sources, buttons); False when it
        cannot hold the answer: it is then stopped as it is, and edited (or, gone, replaced) by the caller."""
        final = render(reply.text)
        if stream.unsure or len(final) > STREAM_LIMIT or not final.startswith(stream.sent):
            try:
                await self.client.chat_stopStream(channel=event.channel, ts=stream.ts)
            except SlackApiError as error:
                if not self._stream_over(event, stream, error):
                    raise
                return False
            self._streams.pop(event.event_id, None)
            self._placeholders[event.event_id] = stream.ts
            return False
        under = [block for block in answer_messages(reply)[-1][1] if block["type"] != "section"]
        try:
            await self.client.chat_stopStream(
                channel=event.channel,
                ts=stream.ts,
                markdown_text=final[len(stream.sent) :] or None,
                blocks=under or None,
            )
        except SlackApiError as error:
            if not self._stream_over(event, stream, error):
                raise
            return False
        return True

    def _stream_over(self, event: ChatEvent, stream: _Stream, error: SlackApiError) -> bool:
        """Whether ``error`` says the stream's message takes no more text; if so, the placeholder path takes over:
        it edits the message, or posts a new one when it is gone."""
        code = error.response.get("error")
        if code not in ENDED | GONE:
            return False
        self._streams.pop(event.event_id, None)
        if code in ENDED:
            self._placeholders[event.event_id] = stream.ts
        log.warning("slack stream ended before the answer; editing its message instead", error=code)
        return True

    async def _stop_resumed(self, event: ChatEvent) -> None:
        """The message an earlier run of this job left may be a stream still open, with text nobody knows: stop it
        (once), so that the edits that follow write the answer into it."""
        if event.event_id not in self._resumed:
            return
        self._resumed.discard(event.event_id)
        ts = self._placeholders.get(event.event_id)
        if ts is None:
            return
        try:
            await self.client.chat_stopStream(channel=event.channel, ts=ts)
        except SlackApiError as error:  # not a stream, one that already ended, or gone (the edit finds out)
            log.info("resumed message was not an open stream", error=error.response.get("error"))

    # --- edits of a placeholder --------------------------------------------------------------------------------

    async def _update_placeholder(self, event: ChatEvent, partial_text: str) -> str | None:
        text = split_text(to_mrkdwn(partial_text))[0]
        text += "\n…" if text.endswith("```") else " …"  # after a closing fence, on a line of its own
        blocks = with_stop_button(text, event_id=event.event_id, asker=event.user_id)
        ts = self._placeholders.get(event.event_id)
        if ts is not None and await self._edit(event, ts, text=text, blocks=blocks) is not None:
            return None
        response = await self.client.chat_postMessage(
            channel=event.channel, text=text, blocks=blocks, thread_ts=self._thread(event)
        )
        posted = self._placeholders[event.event_id] = str(response["ts"])
        return posted

    async def _edit(
        self, event: ChatEvent, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> AsyncSlackResponse | None:
        """``chat.update`` of the placeholder ``ts``; None when that message is gone (post a new one)."""
        try:
            return await self.client.chat_update(channel=event.channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as error:
            if error.response.get("error") not in GONE:
                raise
            log.warning("slack placeholder gone; posting a new message", error=error.response.get("error"))
            self._placeholders.pop(event.event_id, None)
            return None
