"""A Discord thread (a forum post and its replies) as one Markdown document: the question, then the replies.

Only what people wrote is kept: bots (Threadwise's own answers among them), webhooks and system messages (joins,
pins, renames) are left out, and so are the authors' names, which teach nothing. Mentions are neutralised (a
``<@id>`` becomes the member's name, a role or channel mention a word), so that a quoted passage never pings and
reads as text; a message's own headings become bold text, so that the thread's title stays the only heading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from knowledge.documents import SourceDocument

DEFAULT, REPLY, THREAD_STARTER = 0, 19, 21
"""Message types: a message, a reply to one, and the stand-in for the channel message a thread was started from
(the original is its ``referenced_message``)."""
_WRITTEN = frozenset({DEFAULT, REPLY})
_NOT_TEXT_ONLY = ("attachments", "embeds", "sticker_items", "components", "message_snapshots", "poll")
"""A message with one of these may rightly have no text (an image, a sticker, a poll, a forward)."""

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&\d+>")
_CHANNEL_MENTION = re.compile(r"<#\d+>")
_CUSTOM_EMOJI = re.compile(r"<a?:(\w+):\d+>")
_HEADING_MARK = re.compile(r"(\s{0,3})#{1,6}\s+(?=\S)")
"""A Markdown heading's opening marks; its text is the rest of the line (cut with string methods: linear time)."""
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def jump_url(guild_id: int | str, channel_id: int | str) -> str:
    """The link that opens a channel or thread in Discord (and the document's source URI)."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}"


def written_messages(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """What people wrote, in order: a thread-starter stand-in replaced by the message it stands for; bots,
    webhooks and system messages left out."""
    written: list[Mapping[str, Any]] = []
    for message in messages:
        if message.get("type") == THREAD_STARTER:
            message = message.get("referenced_message") or {}
        author = message.get("author") or {}
        if message.get("type") in _WRITTEN and not author.get("bot") and not message.get("webhook_id"):
            written.append(message)
    return written


def hides_content(message: Mapping[str, Any]) -> bool:
    """A message with no text and nothing else to show: what Discord sends a bot without the Message Content
    intent (it empties the text, attachments and embeds of messages that do not mention the bot)."""
    return not (message.get("content") or "").strip() and not any(message.get(field) for field in _NOT_TEXT_ONLY)


def thread_document(
    *, thread: Mapping[str, Any], messages: Sequence[Mapping[str, Any]], guild_id: int | str
) -> SourceDocument | None:
    """The thread as a document, or None when no person replied to it (a question alone answers nothing)."""
    starter_id = str(thread.get("id"))
    written = [message for message in written_messages(messages) if (message.get("content") or "").strip()]
    if all(str(message.get("id")) == starter_id for message in written):
        return None
    title = " ".join(str(thread.get("name") or "").split()) or "Discord thread"
    asker = str(thread.get("owner_id") or "")
    parts = [f"# {title}"]
    for message in written:
        if str(message.get("id")) == starter_id or (not parts[1:] and _author(message) == asker):
            label = "Question"  # a forum post's first message has the thread's id
        elif asker and _author(message) == asker:
            label = "Reply from the asker"
        else:
            label = "Reply"
        parts.append(f"**{label}:**\n\n{readable_text(message)}")
    url = jump_url(guild_id, starter_id)
    metadata = {"url": url, "platform": "discord", "thread": starter_id, "messages": len(written)}
    if thread.get("parent_id"):
        metadata["channel"] = str(thread["parent_id"])
    return SourceDocument(source_uri=url, title=title, text="\n\n".join(parts) + "\n", metadata=metadata)


def readable_text(message: Mapping[str, Any]) -> str:
    """A message's text with its mentions neutralised and its headings made bold (code blocks left as they are)."""
    names = {
        str(user.get("id")): user.get("global_name") or user.get("username") or "member"
        for user in message.get("mentions") or []
    }
    text = _USER_MENTION.sub(lambda found: "@" + names.get(found.group(1), "member"), message.get("content") or "")
    text = _ROLE_MENTION.sub("@role", text)
    text = _CHANNEL_MENTION.sub("#channel", text)
    text = _CUSTOM_EMOJI.sub(r":\1:", text)
    return _headings_made_bold(text).strip()


def _headings_made_bold(text: str) -> str:
    lines, in_code = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and (heading := _HEADING_MARK.match(line)):
            rest = line[heading.end() :].rstrip()
            text = rest.rstrip("#").rstrip() or rest  # a closing run of #s is not part of the text
            line = f"{heading.group(1)}**{text}**"
        lines.append(line)
    return "\n".join(lines)


def _author(message: Mapping[str, Any]) -> str:
    return str((message.get("author") or {}).get("id") or "")
