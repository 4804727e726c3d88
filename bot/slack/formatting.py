"""Answers as Slack messages: Markdown → mrkdwn, long text split cleanly, sources as a context block."""

from __future__ import annotations

import re
from typing import Any

from agent.schemas import AnswerReply, Source
from bot.links import disguises, plain_url

SECTION_LIMIT = 2900  # Slack allows 3,000 characters per section block
MESSAGE_LIMIT = 3800  # the top-level text of one message, with room for the sources

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)
# A quote marker at a line's start (the extractive answers quote passages, models write Markdown quotes). A bare
# ">" is safe to keep: only "<" opens a Slack control sequence, and every "<" in content is escaped.
_QUOTE_MARKER = re.compile(r"^&gt;(?= |$)", re.MULTILINE)
_HELD = re.compile(r"\x00(\d+)\x00")


def escape(text: str) -> str:
    """Slack's own escaping: its control sequences (<!channel>, <@U1>, <url|text>) all need "<"."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_message(text: str) -> str:
    """A person's message, as Slack sent it (already escaped, mentions and links as <…>), quoted back as plain
    text: unescaped once, then escaped, so it reads as typed and nothing in it is live."""
    return escape(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def link(url: str, text: str) -> str:
    """A live link we build; neither part can end it early or start another ("|" in the address is encoded)."""
    if not plain_url(url):
        return f"{escape(text)} ({escape(url)})"
    target = escape(url).replace("|", "%7C")
    if disguises(text, url):  # the text names another site: show the real address instead
        return f"<{target}>"
    return f"<{target}|{escape(text).replace('|', '¦')}>"


def to_mrkdwn(markdown: str) -> str:
    """Text from documents or a model as mrkdwn: everything escaped, then only its Markdown web links made live."""
    links: list[str] = []

    def hold(match: re.Match[str]) -> str:  # links wait outside the text while it is escaped
        links.append(link(match.group(2), match.group(1)))
        return f"\x00{len(links) - 1}\x00"

    text = escape(_LINK.sub(hold, markdown.replace("\x00", "")))
    text = _QUOTE_MARKER.sub(">", _HEADING.sub(r"*\1*", _BOLD.sub(r"*\1*", text)))
    return _HELD.sub(lambda match: links[int(match.group(1))], text)


def preface(asked_by: str, question: str) -> str:
    """Who asked what, for an answer the channel has not seen the question of: our mention stays live."""
    return f"<@{escape(asked_by)}> asked: _{quote_message(question)}_"


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
    if plain_url(source.source_uri):
        return f"[{source.number}] {link(source.source_uri, source.label)}"
    label = escape(source.label)
    return (
        f"[{source.number}] {label} ({escape(source.source_uri)})"
        if source.source_uri
        else f"[{source.number}] {label}"
    )


def answer_messages(reply: AnswerReply, *, preface: str | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """(fallback text, blocks) per message; the sources go under the last one. ``preface`` is mrkdwn already
    (see :func:`preface`); the reply's text is rendered here."""
    text = to_mrkdwn(reply.text)
    pieces = split_text(f"{preface}\n\n{text}" if preface else text)
    messages = []
    for index, piece in enumerate(pieces):
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": part, "verbatim": True}}
            for part in split_text(piece, SECTION_LIMIT)
        ]
        if index == len(pieces) - 1 and reply.sources:
            lines = [source_line(s) for s in reply.sources[:10]]
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)[:2900], "verbatim": True}]}
            )
        messages.append((piece, blocks))
    return messages
