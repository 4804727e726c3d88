"""Answers as Slack messages: Markdown → mrkdwn, long text split cleanly, sources as a context block, and under a
stored answer its 👍/👎 buttons."""

from __future__ import annotations

import re
from typing import Any

from agent.schemas import AnswerReply, Source
from bot.answer_markdown import Part, hold_code_spans, split_parts
from bot.extract_note import extract_note
from bot.links import disguises, plain_url
from bot.message_split import split_fenced
from bot.slack.feedback_buttons import feedback_block

SECTION_LIMIT = 2900  # Slack allows 3,000 characters per section block
MESSAGE_LIMIT = 3800  # the top-level text of one message, with room for the sources
FENCE = "```"

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^((?:> ?)?)#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
# A quote marker at a line's start (models write Markdown quotes). A bare ">" is safe to keep: only "<" opens a
# Slack control sequence, and every "<" in content is escaped. Nested quotes stay one level: Slack has no more.
_QUOTE_MARKER = re.compile(r"^&gt;(?= |$)", re.MULTILINE)
_BULLET = re.compile(r"^((?:> ?)?[ \t]*)[-*+][ \t]+(?=\S)", re.MULTILINE)
# One pass, so a bold turned into Slack's *bold* is not read again as italic. Each alternative stops at the next
# marker or line end, so the pass stays linear on any text.
_EMPHASIS = re.compile(
    r"\*\*(.+?)\*\*"
    r"|__(.+?)__"
    r"|(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])"
    r"|(?<![\w_])_(?=[^\s_])([^_\n]+?)(?<=\S)_(?![\w_])"
)
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


def code_block(part: Part) -> str:
    """A code part as a Slack code block: the code escaped (Slack's escaping applies inside code too) and
    nothing else; fences on lines of their own, no language (Slack would show it as the first line of code)."""
    return f"{FENCE}\n{escape(part.code)}{FENCE}" if part.code.strip() else ""


def _emphasis(match: re.Match[str]) -> str:
    bold = match.group(1) or match.group(2)
    return f"*{bold}*" if bold is not None else f"_{match.group(3) or match.group(4)}_"


def _text_to_mrkdwn(markdown: str) -> str:
    held: list[str] = []
    spans: dict[int, str] = {}  # held code spans as written, for a link's text

    def hold(rendered: str) -> str:  # code spans and links wait outside the text while it is escaped
        held.append(rendered)
        return f"\x00{len(held) - 1}\x00"

    def hold_span(span: str) -> str:
        spans[len(held)] = span
        return hold(escape(span))

    def hold_link(match: re.Match[str]) -> str:
        text = _HELD.sub(lambda m: spans.get(int(m.group(1)), ""), match.group(1))
        return hold(link(match.group(2), text))

    text = escape(_LINK.sub(hold_link, hold_code_spans(markdown, hold_span)))
    text = _BULLET.sub(r"\1• ", _QUOTE_MARKER.sub(">", text))
    text = _EMPHASIS.sub(_emphasis, text)
    text = _HEADING.sub(lambda m: f"{m.group(1)}*{m.group(2).replace('*', '')}*", text)
    return _HELD.sub(lambda match: held[int(match.group(1))], text)


def to_mrkdwn(markdown: str) -> str:
    """Text from documents or a model as mrkdwn: everything escaped, then its Markdown emphasis, headings, lists
    and web links converted; code (blocks and spans) kept as written."""
    parts = split_parts(markdown.replace("\x00", ""))
    return "\n".join(code_block(part) if part.is_code else _text_to_mrkdwn(part.text) for part in parts)


def preface(asked_by: str, question: str) -> str:
    """Who asked what, for an answer the channel has not seen the question of: our mention stays live."""
    return f"<@{escape(asked_by)}> asked: _{quote_message(question)}_"


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph, then line, then word boundaries; a code block is
    kept whole, or closed and reopened (see :mod:`bot.message_split`)."""
    return split_fenced(text, limit)


def section_blocks(mrkdwn: str) -> list[dict[str, Any]]:
    """``mrkdwn`` as section blocks of at most ``SECTION_LIMIT`` characters each, shown as written (``verbatim``:
    Slack turns no names or addresses in it into links)."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": part, "verbatim": True}}
        for part in split_text(mrkdwn, SECTION_LIMIT)
    ]


def source_line(source: Source) -> str:
    where = source.url or source.source_uri  # the published page when known, else where it was ingested from
    if plain_url(where):
        return f"[{source.number}] {link(where, source.label)}"
    label = escape(source.label)
    return f"[{source.number}] {label} ({escape(where)})" if where else f"[{source.number}] {label}"


def answer_messages(reply: AnswerReply, *, preface: str | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """(fallback text, blocks) per message; the sources go under the last one, and the feedback buttons under
    everything when the reply is a stored answer (apologies for errors get none). ``preface`` is mrkdwn already
    (see :func:`preface`); the reply's text is rendered here."""
    text = to_mrkdwn(reply.text)
    note = extract_note(reply)
    pieces = split_text(f"{preface}\n\n{text}" if preface else text)
    messages = []
    for index, piece in enumerate(pieces):
        blocks = section_blocks(piece)
        if index == len(pieces) - 1 and reply.sources:
            lines = [source_line(s) for s in reply.sources[:10]]
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)[:2900], "verbatim": True}]}
            )
        if index == len(pieces) - 1 and note:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note, "verbatim": True}]})
        if index == len(pieces) - 1 and reply.message_id is not None and reply.outcome != "error":
            blocks.append(feedback_block(reply.message_id))
        messages.append((piece, blocks))
    return messages
