"""A Slack thread as a document: the question as its title and first paragraph, then each reply, in Markdown.

Slack sends message text as mrkdwn with its own control sequences (``<@U123>``, ``<https://x|label>``,
``<#C123|general>``) and ``&``, ``<``, ``>`` escaped. They become plain Markdown here, so that the thread is chunked,
searched and quoted like any other document: mentions read ``@Name`` when the thread itself tells the person's
name (Slack's ``user_profile`` on their own messages), else ``@someone``, never a user id; links become Markdown
links; ``*bold*``, ``_italic_`` and ``~strike~`` their Markdown forms; code is kept byte for byte. Each line of a
message stays a line (a paragraph of its own, or an item of a list), as people saw it in Slack.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from knowledge.documents import SourceDocument
from knowledge.loaders.markdown import load_markdown

TITLE_LIMIT = 120
SKIPPED_SUBTYPES = frozenset(
    {
        "channel_join", "channel_leave", "group_join", "group_leave", "channel_topic", "channel_purpose",
        "channel_name", "group_topic", "group_purpose", "group_name", "channel_archive", "channel_unarchive",
        "group_archive", "group_unarchive", "pinned_item", "unpinned_item", "tombstone", "reminder_add",
        "bot_add", "bot_remove",
    }
)  # fmt: skip
"""Messages Slack writes about the channel rather than people's words: never part of a thread's document."""

_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_CONTROL = re.compile(r"<([^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_BULLET = re.compile(r"^(\s*)[•◦▪▸‣]\s+")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
_HELD = re.compile(r"\x00(\d+)\x00")
# Markdown reads these as its own syntax; in Slack they are plain characters.
_MARKDOWN_ACTIVE = re.compile(r"([\\<&\[\]])")
_HEADING_LIKE = re.compile(r"^(\s*)(#+)(?=\s|$)", re.MULTILINE)
# What a title shows of a Markdown line: a link's text, an address without its brackets, emphasised or code text.
_MARKS = re.compile(
    r"\[([^\]]*)\]\([^)]*\)"
    r"|<(https?://[^>]+)>"
    r"|\*\*(.+?)\*\*"
    r"|(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"
    r"|~~(.+?)~~"
    r"|`([^`]+)`"
)


def display_names(messages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """User id → the name the thread's own messages give for that person (no lookup per user)."""
    names: dict[str, str] = {}
    for message in messages:
        profile = message.get("user_profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or profile.get("name")
        if message.get("user") and isinstance(name, str) and name.strip():
            names[str(message["user"])] = name.strip()
    return names


def mrkdwn_to_markdown(text: str, names: Mapping[str, str]) -> str:
    """One message's text as Markdown (see the module's docstring)."""
    held: list[str] = []
    text = text.replace("\x00", "")

    def hold(rendered: str) -> str:  # finished pieces wait outside the text while the rest is converted
        held.append(rendered)
        return f"\x00{len(held) - 1}\x00"

    text = _FENCE.sub(lambda m: hold(f"\n\n```\n{_unescape(m.group(1)).strip(chr(10))}\n```\n\n"), text)
    text = _INLINE_CODE.sub(lambda m: hold(_unescape(m.group(0))), text)
    text = _CONTROL.sub(lambda m: hold(_control(m.group(1), names)), text)
    text = _MARKDOWN_ACTIVE.sub(r"\\\1", _unescape(text))
    text = _HEADING_LIKE.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    text = _BOLD.sub(r"**\1**", text)
    text = _ITALIC.sub(r"*\1*", text)
    text = _STRIKE.sub(r"~~\1~~", text)
    text = _lines_as_blocks(text)
    while _HELD.search(text):  # a held piece may hold another (a link's label with code in it)
        text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return text.strip()


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _control(inner: str, names: Mapping[str, str]) -> str:
    """A Slack control sequence (``<…>``) as Markdown."""
    target, _, label = inner.partition("|")
    label = _unescape(label)
    if target.startswith("@"):
        name = names.get(target[1:]) or label.lstrip("@") or "someone"
        return f"@{_escape(name)}"
    if target.startswith("#"):
        return f"#{_escape(label or 'a-channel')}"
    if target.startswith("!"):
        special = target[1:].split("^", 1)[0]
        if special in {"here", "channel", "everyone"}:
            return f"@{special}"
        return _escape(label)  # a user group (@team), a date: its fallback text
    url = _unescape(target)
    if url.startswith("mailto:"):
        return _escape(label or url.removeprefix("mailto:"))
    if not label or label == url:
        return f"<{url}>"
    return f"[{_escape(label)}]({url.replace(')', '%29').replace(' ', '%20')})"


def _escape(text: str) -> str:
    return _MARKDOWN_ACTIVE.sub(r"\\\1", text)


def _lines_as_blocks(text: str) -> str:
    """Every line a block of its own, except that a list's items, and a quote's lines, stay together."""
    out: list[str] = []
    previous = ""
    for raw in text.split("\n"):
        line = _BULLET.sub(lambda m: f"{m.group(1)}- ", raw.rstrip())
        if not line.strip():
            previous = ""
            continue
        together = (_LIST_ITEM.match(line) and _LIST_ITEM.match(previous)) or (
            line.startswith(">") and previous.startswith(">")
        )
        out.append(("\n" if together else "\n\n") + line)
        previous = line
    return "".join(out)


def headline(markdown: str) -> str:
    """The first line of a question, without Markdown's marks, shortened to ``TITLE_LIMIT`` at a word."""
    first = next((line for line in markdown.split("\n") if line.strip()), "")
    # Only the line's start can show: the marks' patterns never see more than that, whatever the message's length.
    first = first[: 4 * TITLE_LIMIT]
    plain = _MARKS.sub(lambda m: next(group for group in m.groups() if group is not None), first)
    plain = re.sub(r"\\(.)", r"\1", plain.lstrip("># -")).strip()
    if len(plain) <= TITLE_LIMIT:
        return plain
    cut = plain[:TITLE_LIMIT].rsplit(" ", 1)[0]
    return f"{cut}…"


def is_spoken(message: Mapping[str, Any], *, bot_user: str, bot_id: str | None) -> bool:
    """Whether a message is someone's words worth keeping: not Threadwise's own, not a notice about the channel."""
    if message.get("subtype") in SKIPPED_SUBTYPES:
        return False
    if message.get("user") == bot_user or (bot_id is not None and message.get("bot_id") == bot_id):
        return False
    return bool(str(message.get("text") or "").strip())


def thread_document(
    messages: Sequence[Mapping[str, Any]],
    *,
    url: str,
    channel: str,
    channel_name: str,
    bot_user: str,
    bot_id: str | None,
) -> SourceDocument | None:
    """The thread (its parent first) as a document, or None when nothing is left to learn: the question is gone,
    or no one but Threadwise replied."""
    if not messages or not is_spoken(messages[0], bot_user=bot_user, bot_id=bot_id):
        return None
    parent, replies = messages[0], messages[1:]
    names = display_names(messages)
    question = mrkdwn_to_markdown(str(parent["text"]), names)
    answers = [
        text
        for reply in replies
        if is_spoken(reply, bot_user=bot_user, bot_id=bot_id)
        and (text := mrkdwn_to_markdown(str(reply["text"]), names))
    ]
    if not question or not answers:
        return None
    title = headline(question) or f"A thread in #{channel_name}"
    body = [f"# {_escape(title)}"]
    if question != _escape(title):  # the question says more than its title shows
        body.append(question)
    body.extend(answers)
    document = load_markdown("\n\n".join(body).encode(), source_uri=url, fallback_title=title)
    metadata = {"url": url, "platform": "slack", "channel": channel, "thread_ts": parent["ts"], "replies": len(answers)}
    return dataclasses.replace(document, title=title, metadata=metadata)
