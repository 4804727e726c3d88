"""Answers as the Markdown of Slack's native streaming (``markdown_text``): Slack renders the Markdown itself, so
the text keeps it, and what could act in Slack is made inert, as it is in the mrkdwn messages (``formatting.py``).

- Every Slack control sequence (``<!channel>``, ``<@U1>``, ``<https://evil|https://sso>``) starts with ``<``. In
  the text it is written as the entity ``&lt;`` (and ``&`` as ``&amp;``): a Markdown reader shows the character,
  and a reader that looks for control sequences first finds none. Code is shown as written, so a zero-width space
  follows the ``<`` of a mention or a link there (``<!``, ``<@``, ``<#``, ``<https:``).
- A link stays one when its target is a plain web address and its text names no other site; otherwise its text
  is followed by the address. Any other ``](`` is broken, so no link is made that was not checked.

Streamed text cannot be taken back, so a partial answer is streamed only as far as its rendering is settled
(:func:`settled`): later text may still turn what follows into a code span, a link or a code fence.
"""

from __future__ import annotations

import re

from bot.answer_markdown import Part, code_spans, hold_code_spans, split_parts
from bot.links import disguises, plain_url

ZERO_WIDTH_SPACE = "\u200b"
STREAM_LIMIT = 12_000
"""Characters of Markdown one streamed message holds (``markdown_text`` takes at most 12,000)."""

# A control sequence in code: a mention or a channel (<!here>, <@U1>, <#C1>) or a link Slack would make live.
_CONTROL_IN_CODE = re.compile(r"<(?=[!@#]|(?:https?|mailto|tel|slack):)", re.IGNORECASE)
# The inline links we vet: [text](url), [text](<url>), with an optional "title".
_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?([^()<>\s]+)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_MASK = re.compile(r"\]\(")
_HELD = re.compile(r"\x00(\d+)\x00")
_TICKS = re.compile(r"`+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# A line that is, or may still become, a code fence's (its marker being written), in a quote or a list item or not.
_FENCE_START = re.compile(r"[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:[`~]{1,2}$|```|~~~)")
# A table's delimiter row being written ("| --- | :-:"): it turns the line before it into the table's header.
_DELIMITER_ROW = re.compile(r"[ \t]*\|?[ \t:|-]*")
_LINK_TEXT = re.compile(r"\[[^\[\]\n]*")
_OPEN_ANGLE = re.compile(r"<[A-Za-z]{0,6}$")
"""A "<" at the end that may still start a link in code ("<http" before "<https:")."""


def _inert_code(code: str) -> str:
    return _CONTROL_IN_CODE.sub("<" + ZERO_WIDTH_SPACE, code)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _render_text(markdown: str) -> str:
    held: list[str] = []

    def hold(rendered: str) -> str:  # code spans and vetted links wait outside the text while it is escaped
        held.append(rendered)
        return f"\x00{len(held) - 1}\x00"

    def restored(text: str) -> str:
        return _HELD.sub(lambda match: held[int(match.group(1))], text)

    def vet(match: re.Match[str]) -> str:
        text, url = match.group(1), match.group(2)
        if not url.lower().startswith(("http://", "https://")):
            return match.group(0)  # not a web link: its "](" is broken below
        if plain_url(url) and not disguises(restored(text), url):
            target = url.replace("<", "%3C").replace(">", "%3E")
            return hold(f"[{restored(_escape(text))}]({target})")
        return f"{text} ({url})" if text.strip() else url

    text = _LINK.sub(vet, hold_code_spans(markdown, lambda span: hold(_inert_code(span))))
    return restored(_escape(_MASK.sub("]" + ZERO_WIDTH_SPACE + "(", text)))


def _render_part(part: Part) -> str:
    # Code as written, fences included (a table too: Slack shows one as its text), only its mentions made inert.
    return _inert_code(part.text) if part.is_code else _render_text(part.text)


def render(markdown: str) -> str:
    """An answer's Markdown (or as much of it as is :func:`settled`) as ``markdown_text``."""
    return "\n".join(_render_part(part) for part in split_parts(markdown.replace("\x00", "").lstrip()))


def _first_open(paragraph: str) -> int | None:
    """Where the first code span or link of ``paragraph`` (the answer's last) that later text may still close
    starts; None when there is none."""
    spans = code_spans(paragraph)
    for run in _TICKS.finditer(paragraph):
        if not any(start <= run.start() < end for start, end in spans):
            return run.start()
    for bracket in _LINK_TEXT.finditer(paragraph):
        rest = paragraph[bracket.end() :]
        if not rest:  # "[text" up to the end: a link's text, or not
            return bracket.start()
        if rest[0] != "]":  # a line break or another "[": no link we vet starts here
            continue
        if rest == "]" or (rest.startswith("](") and ")" not in rest and "\n" not in rest):
            return bracket.start()  # "[text]" or "[text](addr": a "(" or the ")" may follow
    return None


def settled(partial: str) -> str:
    """The part of an answer still being written whose rendering later text cannot change: without the line it
    ends in when that line may still become a code fence (or the delimiter row of a table), and without a code span
    or a link that may still be closed. Nor the white space it ends in: the final answer has none there."""
    partial = partial.strip()
    if angle := _OPEN_ANGLE.search(partial):
        partial = partial[: angle.start()]
    head, newline, last = partial.rpartition("\n")
    # A line that waits does not settle what is before it: a code span opened earlier may still close after it.
    tail = ""
    if _FENCE_START.match(last):
        partial, tail = head, newline
    elif newline and _DELIMITER_ROW.fullmatch(last) and "|" in head.rpartition("\n")[2]:
        partial = head.rpartition("\n")[0]  # the header and its delimiter row wait for each other
    parts = split_parts(partial)
    if parts and parts[-1].is_code:  # inside a code block: what is written stays as written
        return partial + tail
    paragraph_start = max((match.end() for match in _BLANK_LINE.finditer(partial)), default=0)
    cut = _first_open(partial[paragraph_start:])
    return partial + tail if cut is None else partial[: paragraph_start + cut]
