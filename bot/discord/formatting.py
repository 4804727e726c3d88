"""Answers as Discord messages: Markdown as Discord shows it, code as written, at most 2,000 characters each (cut
never inside a code fence, see :mod:`bot.message_split`); sources as an embed."""

from __future__ import annotations

import re

import discord

from agent.schemas import AnswerReply, Source
from bot.answer_markdown import Part, hold_code_spans, split_parts
from bot.extract_note import extract_note
from bot.links import disguises, plain_url
from bot.message_split import split_fenced

MESSAGE_LIMIT = 2000
EMBED_LIMIT = 4096
MAX_SOURCES = 10
_FENCE = "```"
ZERO_WIDTH_SPACE = "\u200b"
# What Discord turns into a ping or a pill: @everyone, @here, <@id>, <@!id>, <@&id>, <#id>, </command:id>.
_MASS_MENTION = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_ANGLE_MENTION = re.compile(r"<(?=[@#/])")
# The masked links we vet: [text](url), [text](<url>), with an optional "title". Discord accepts looser ones
# (nested brackets, parentheses in the address); those are not vetted, so their "](" is broken instead.
_MASKED_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?([^()<>\s]+)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_MASK = re.compile(r"\]\(")
_HELD = re.compile(r"\x00(\d+)\x00")


def unmention(text: str) -> str:
    """``text`` that can neither ping nor show a mention pill. Code too: Discord finds mentions in a message's
    raw text, code blocks included (it only draws them as code), so this is the one change code gets."""
    text = _MASS_MENTION.sub("@" + ZERO_WIDTH_SPACE, text)
    return _ANGLE_MENTION.sub("<" + ZERO_WIDTH_SPACE, text)


def neutralise(text: str) -> str:
    """Text from documents, a model or a user that can neither ping, show a mention pill, nor mask a link."""
    return _MASK.sub("]" + ZERO_WIDTH_SPACE + "(", unmention(text))


def code_block(part: Part) -> str:
    """A code part as a Discord fence: the code as written (but for mentions), the fence on lines of its own."""
    return f"{_FENCE}{part.language}\n{unmention(part.code)}{_FENCE}" if part.code.strip() else ""


def _render_text(markdown: str) -> str:
    held: list[str] = []

    def hold(rendered: str) -> str:  # code spans and vetted links wait outside the text while it is neutralised
        held.append(rendered)
        return f"\x00{len(held) - 1}\x00"

    def vet(match: re.Match[str]) -> str:
        text, url = match.group(1), match.group(2)
        if not url.lower().startswith(("http://", "https://")):
            return match.group(0)  # not a link on Discord; its "](" is broken below all the same
        if plain_url(url) and not disguises(text, url):
            return hold(f"[{neutralise(_HELD.sub(lambda m: held[int(m.group(1))], text))}]({neutralise(url)})")
        return f"{text} (<{url}>)" if text.strip() else f"<{url}>"

    text = _MASKED_LINK.sub(vet, hold_code_spans(markdown, lambda span: hold(unmention(span))))
    return _HELD.sub(lambda match: held[int(match.group(1))], neutralise(text))


def render(markdown: str) -> str:
    """An answer's text for Discord: no mentions, only masked links whose text does not name another site, and
    code (blocks and spans) as written."""
    parts = split_parts(markdown.replace("\x00", ""))
    return "\n".join(code_block(part) if part.is_code else _render_text(part.text) for part in parts)


def preface(asked_by: str, question: str) -> str:
    """Who asked what, for an answer posted to the channel: our mention of the asker stays live."""
    return f"<@{int(asked_by)}> asked: *{neutralise(question)}*"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` as messages of at most ``limit`` characters, code blocks whole or closed and reopened."""
    return split_fenced(text, limit)


def _link_target(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def source_line(source: Source) -> str:
    label = neutralise(source.label.replace("[", "(").replace("]", ")"))
    where = source.url or source.source_uri  # the published page when known, else where it was ingested from
    if plain_url(where) and not disguises(source.label, where):
        return f"[{source.number}] [{label}]({_link_target(where)})"
    uri = neutralise(where)
    return f"[{source.number}] {label} ({uri})" if uri else f"[{source.number}] {label}"


def sources_embed(reply: AnswerReply) -> discord.Embed | None:
    if not reply.sources:
        return None
    lines = [source_line(source) for source in reply.sources[:MAX_SOURCES]]
    embed = discord.Embed(title="Sources", description="\n".join(lines)[:EMBED_LIMIT])
    note = extract_note(reply)
    if note:
        embed.set_footer(text=note)
    return embed


def answer_messages(reply: AnswerReply, *, preface: str | None = None) -> list[str]:
    """The answer's text as messages; the caller attaches :func:`sources_embed` to the last one. ``preface`` is
    rendered already (see :func:`preface`); the reply's text is rendered here. An extract without sources (so
    without the embed whose footer says so) ends with the note as a line of small text."""
    text = render(reply.text)
    note = extract_note(reply) if not reply.sources else None
    if note:
        text = f"{text}\n-# {note}"
    return split_message(f"{preface}\n\n{text}" if preface else text)
