"""Long answers as several messages, cut between paragraphs, lines or words and never inside a code fence: a
block too long for one message is closed and reopened. Shared by Slack and Discord, whose code blocks are both
fenced with three backticks."""

from __future__ import annotations

_FENCE = "```"


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


def split_fenced(text: str, limit: int) -> list[str]:
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
