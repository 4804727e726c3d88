"""Long answers as several messages, cut between paragraphs, lines or words and never inside a code fence: a
block too long for one message is closed and reopened. Shared by Slack and Discord, whose code blocks are both
fenced with three backticks."""

from __future__ import annotations

from knowledge.markdown_blocks import fence_spans

_FENCE = "```"


def _blocks(text: str) -> list[tuple[str, bool]]:
    """Paragraphs and whole fenced code blocks (True), in order; an unclosed fence is closed. Fences are found as
    CommonMark finds them (``knowledge.markdown_blocks``): "```x``` inline" on a line of text opens none."""
    lines = text.strip().split("\n")
    fences = dict(fence_spans(lines))
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    i = 0
    while i < len(lines):
        if i in fences:
            if current:
                blocks.append(("\n".join(current), False))
                current = []
            end = fences[i]
            block = lines[i:end]
            mark = block[0].strip()[0]
            closing = block[-1].strip()
            if len(block) == 1 or not closing or closing.strip(mark):  # ran to the end unclosed
                block.append(_FENCE)
            blocks.append(("\n".join(block), True))
            i = end
            continue
        if lines[i].strip():
            current.append(lines[i])
        elif current:
            blocks.append(("\n".join(current), False))
            current = []
        i += 1
    if current:
        blocks.append(("\n".join(current), False))
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
    # The two line breaks around the body; at least one character, so an opener as long as a message still
    # ends the loop below (it leaves that message over the limit rather than never returning).
    budget = max(1, limit - len(opener) - len(_FENCE) - 2)
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
    for block, code in _blocks(text):
        if len(block) <= limit:
            parts.append(block)
        elif code:
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
