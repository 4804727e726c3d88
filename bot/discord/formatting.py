"""Answers as Discord messages: at most 2,000 characters each, cut between paragraphs, lines or words and never
inside a code fence (a block too long for one message is closed and reopened); sources as an embed."""

from __future__ import annotations

import re

import discord

from agent.schemas import AnswerReply, Source
from bot.links import disguises, plain_url

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


def neutralise(text: str) -> str:
    """Text from documents, a model or a user that can neither ping, show a mention pill, nor mask a link."""
    text = _MASS_MENTION.sub("@" + ZERO_WIDTH_SPACE, text)
    text = _ANGLE_MENTION.sub("<" + ZERO_WIDTH_SPACE, text)
    return _MASK.sub("]" + ZERO_WIDTH_SPACE + "(", text)


def render(markdown: str) -> str:
    """An answer's text for Discord: no mentions, and only masked links whose text does not name another site."""
    links: list[str] = []

    def vet(match: re.Match[str]) -> str:  # a vetted link waits outside the text while the rest is neutralised
        text, url = match.group(1), match.group(2)
        if not url.lower().startswith(("http://", "https://")):
            return match.group(0)  # not a link on Discord; its "](" is broken below all the same
        if plain_url(url) and not disguises(text, url):
            links.append(f"[{neutralise(text)}]({neutralise(url)})")
            return f"\x00{len(links) - 1}\x00"
        return f"{text} (<{url}>)" if text.strip() else f"<{url}>"

    text = neutralise(_MASKED_LINK.sub(vet, markdown.replace("\x00", "")))
    return _HELD.sub(lambda match: links[int(match.group(1))], text)


def preface(asked_by: str, question: str) -> str:
    """Who asked what, for an answer posted to the channel: our mention of the asker stays live."""
    return f"<@{int(asked_by)}> asked: *{neutralise(question)}*"


def _blocks(text: str) -> list[str]:
    """Paragraphs and whole fenced code blocks, in order (an unclosed fence is closed)."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in text.strip().split("\n"):
        if line.lstrip().startswith(_FENCE):
            if not in_fence and current:
                blocks.append("\n".join(current))
                current = []
            current.append(line)
            if in_fence:
                blocks.append("\n".join(current))
                current = []
            in_fence = not in_fence
        elif in_fence:
            current.append(line)
        elif not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
        else:
            current.append(line)
    if in_fence:
        current.append(_FENCE)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _split_words(text: str, limit: int) -> list[str]:
    """Cut at the last line break, else the last space, inside each window; a word longer than ``limit`` is cut."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = window.rfind("\n")
        if cut <= 0:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _split_fence(block: str, limit: int) -> list[str]:
    """A code block too long for one message, as several blocks that each open and close the fence."""
    lines = block.split("\n")
    opener, body = lines[0].strip(), lines[1:-1]
    budget = limit - len(opener) - len(_FENCE) - 2  # the two line breaks around the body
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in body:
        for part in _split_words(line, budget) if len(line) > budget else [line]:
            if current and size + len(part) + 1 > budget:
                pieces.append("\n".join([opener, *current, _FENCE]))
                current, size = [], 0
            current.append(part)
            size += len(part) + 1
    if current or not pieces:
        pieces.append("\n".join([opener, *current, _FENCE]))
    return pieces


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` as messages of at most ``limit`` characters, packed greedily by whole paragraphs and code blocks."""
    parts: list[str] = []
    for block in _blocks(text):
        if len(block) <= limit:
            parts.append(block)
        elif block.lstrip().startswith(_FENCE):
            parts.extend(_split_fence(block, limit))
        else:
            parts.extend(_split_words(block, limit))
    messages: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}\n\n{part}" if current else part
        if len(candidate) <= limit:
            current = candidate
        else:
            messages.append(current)
            current = part
    if current:
        messages.append(current)
    return messages or [""]


def _link_target(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def source_line(source: Source) -> str:
    label = neutralise(source.label.replace("[", "(").replace("]", ")"))
    if plain_url(source.source_uri) and not disguises(source.label, source.source_uri):
        return f"[{source.number}] [{label}]({_link_target(source.source_uri)})"
    uri = neutralise(source.source_uri)
    return f"[{source.number}] {label} ({uri})" if uri else f"[{source.number}] {label}"


def sources_embed(reply: AnswerReply) -> discord.Embed | None:
    if not reply.sources:
        return None
    lines = [source_line(source) for source in reply.sources[:MAX_SOURCES]]
    return discord.Embed(title="Sources", description="\n".join(lines)[:EMBED_LIMIT])


def answer_messages(reply: AnswerReply, *, preface: str | None = None) -> list[str]:
    """The answer's text as messages; the caller attaches :func:`sources_embed` to the last one. ``preface`` is
    rendered already (see :func:`preface`); the reply's text is rendered here."""
    text = render(reply.text)
    return split_message(f"{preface}\n\n{text}" if preface else text)
