"""Answers as Slack messages: Markdown → mrkdwn, long text split cleanly, sources as a context block."""

from __future__ import annotations

import re
from typing import Any

from agent.schemas import AnswerReply, Source

SECTION_LIMIT = 2900  # Slack allows 3,000 characters per section block
MESSAGE_LIMIT = 3800  # the top-level text of one message, with room for the sources

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)


def to_mrkdwn(markdown: str) -> str:
    text = _LINK.sub(r"<\2|\1>", markdown)
    text = _BOLD.sub(r"*\1*", text)
    return _HEADING.sub(r"*\1*", text)


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph, then line, then word boundaries."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or max(window.rfind(" "), 0) or limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces or [""]


def source_line(source: Source) -> str:
    label = source.label.replace("<", "‹").replace(">", "›")
    if source.source_uri.startswith(("http://", "https://")):
        return f"[{source.number}] <{source.source_uri}|{label}>"
    return f"[{source.number}] {label} ({source.source_uri})" if source.source_uri else f"[{source.number}] {label}"


def answer_messages(reply: AnswerReply, *, preface: str | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """(fallback text, blocks) per message; the sources go under the last one."""
    text = to_mrkdwn(reply.text)
    pieces = split_text(f"{preface}\n\n{text}" if preface else text)
    messages = []
    for index, piece in enumerate(pieces):
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in split_text(piece, SECTION_LIMIT)
        ]
        if index == len(pieces) - 1 and reply.sources:
            lines = [source_line(s) for s in reply.sources[:10]]
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)[:2900]}]})
        messages.append((piece, blocks))
    return messages
