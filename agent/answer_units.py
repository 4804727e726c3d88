"""What an extractive answer quotes: an answer unit, never a lead-in alone.

A unit is a run of sentences, or the sentence that introduces a code block, list or table together with that
block, or a short passage whole. Units are scored by the words they share with the question; a "how do I"
question prefers units that show a command, option or code. Code is quoted byte for byte and a quote never
ends inside an open fence.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.extractive import content_words, split_sentences
from knowledge.markdown_blocks import ATTACHED_KINDS, Block, fence_spans, split_blocks

LEAD_IN_ENDINGS = (":", "…", "...")
"""How a sentence that introduces a block ends."""
MAX_UNIT_CHARS = 900
"""Longer units are cut at a line (code) or sentence (prose) boundary."""
WHOLE_PASSAGE_CHARS = 450
"""A passage this short may be quoted whole, when its parts each answer only some of the question."""
WHOLE_PASSAGE_COST = 1.5
"""In shared words: what quoting the whole passage must gain over its best part."""
PARAGRAPH_CHARS = 400
"""A paragraph up to this long is one unit: its sentences explain each other."""
MIN_RUN_CHARS = 120
"""A sentence shorter than this is quoted with a neighbour: alone it is usually a lead-in or an aside."""
LABEL_CHARS = 80
"""A one-line paragraph up to this long before a block is its label, quoted with it."""
MIN_LABEL_ROOM = 200
"""A label cut to less than this (a long block before what is about it) would show too little to read."""
LEAD_IN_CHARS = 450
"""How much of the paragraph before a block is quoted with it (its last sentences)."""
CODE_BONUS = 0.75
"""For a question that asks how to do something, a unit showing code or a name in backticks gains this much: a
shared word is worth 1."""
REFERS_BACK = frozenset({"this", "these", "those", "which", "it", "here", "such", "above"})
"""A paragraph whose first word is one of these, right after a code block, list or table, is about that block
("This creates and returns a ``Celery`` app object."): it is quoted after the block, never alone."""
_HOW_WORDS = frozenset({"how", "way", "command", "configure", "enable", "disable", "install", "run", "set", "setup"})


@dataclass(frozen=True, slots=True)
class Unit:
    text: str
    shows_code: bool
    whole: bool = False
    """The whole passage: quoted only when it answers clearly more of the question than any part of it."""
    label: str = ""
    """What leads ``text`` and is quoted with it, if anything: the short line naming it (``**Bash**``, a
    signature), or the block that a paragraph is about."""
    at: tuple[int, int, int] | None = None
    """Where it stands in the passage: its block, and its first and last sentence in that block (a code block,
    list or table: its own block, 0, 0). None for the whole passage."""


def asks_how(question: str) -> bool:
    """A question after a procedure or a setting, whose answer is best shown as code or a name."""
    return any(word in _HOW_WORDS for word in question.lower().replace("?", " ").split())


def _lead_in(paragraph: str) -> str:
    """The paragraph's last sentences, up to ``LEAD_IN_CHARS``: the part that introduces what follows."""
    sentences = split_sentences(paragraph)
    lead = sentences[-1] if sentences else paragraph
    for sentence in reversed(sentences[:-1]):
        if len(sentence) + 1 + len(lead) > LEAD_IN_CHARS:
            break
        lead = f"{sentence} {lead}"
    return lead


def _with_block(lead: str, block: Block) -> str:
    return f"{lead}\n\n{block.text}" if lead else block.text


def _introduces(sentences: list[str], following: Block | None) -> bool:
    """Whether the paragraph's last sentence leads into a block: the one that follows it, or one the passage was
    cut before (it ends with a colon or an ellipsis and nothing follows)."""
    if not sentences:
        return False
    if following is not None:
        return following.kind in ATTACHED_KINDS
    return sentences[-1].rstrip().endswith(LEAD_IN_ENDINGS)


def _is_label(block: Block) -> bool:
    """A short line that names what follows: ``**Bash**``, a signature in backticks, "Example:"."""
    return block.kind == "paragraph" and "\n" not in block.text and len(block.text) <= LABEL_CHARS


def units_of(content: str) -> list[Unit]:
    """The answer units of one passage, in order."""
    blocks = [b for b in split_blocks(content) if b.kind != "heading"]
    if not blocks:
        return []
    units: list[Unit] = []
    if len(content) <= WHOLE_PASSAGE_CHARS and len(blocks) > 1:
        text = "\n\n".join(b.text for b in blocks)
        units.append(Unit(text, shows_code=_shows_code(text), whole=True))
    for i, block in enumerate(blocks):
        previous = blocks[i - 1] if i > 0 else None
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if block.kind in ATTACHED_KINDS:
            lead = _lead_in(previous.text) if previous is not None and previous.kind == "paragraph" else ""
            text = _with_block(lead, block)
            units.append(Unit(text, shows_code=_shows_code(text), at=(i, 0, 0)))
            continue
        if following is not None and _is_label(block):
            continue  # a label goes with what it names
        sentences = split_sentences(block.text) if block.kind == "paragraph" else [block.text]
        if block.kind == "paragraph" and _introduces(sentences, following):
            sentences = sentences[:-1]  # the lead-in is quoted with its block, never alone
        label = previous.text if previous is not None and _is_label(previous) else ""
        described = _described_block(blocks, i)
        for first, last, run in _runs(sentences):
            # "This creates…" alone says nothing: it is quoted after what it points at.
            leads = described if described and first == 0 else label
            text = f"{leads}\n\n{run}" if leads else run
            units.append(Unit(text, shows_code=_shows_code(text), label=leads, at=(i, first, last)))
    return units


def refers_back(paragraph: Block, following: Block | None) -> bool:
    """Whether ``paragraph`` is about the block before it: it opens with a word that points back (see
    ``REFERS_BACK``) and introduces no block of its own ("This example adds…" before code points forward)."""
    words = paragraph.text.split(maxsplit=1)
    if paragraph.kind != "paragraph" or not words or words[0].strip(",").lower() not in REFERS_BACK:
        return False
    return following is None or following.kind not in ATTACHED_KINDS


def _described_block(blocks: list[Block], i: int) -> str:
    """The unit of the code block, list or table right before paragraph ``i`` when the paragraph is about it;
    "" otherwise."""
    following = blocks[i + 1] if i + 1 < len(blocks) else None
    if i == 0 or blocks[i - 1].kind not in ATTACHED_KINDS or not refers_back(blocks[i], following):
        return ""
    before = blocks[i - 2] if i >= 2 else None
    lead = _lead_in(before.text) if before is not None and before.kind == "paragraph" else ""
    return _with_block(lead, blocks[i - 1])


def _runs(sentences: list[str]) -> list[tuple[int, int, str]]:
    """A paragraph short enough to read as one thought, whole; a longer one as runs of consecutive sentences
    (two or more, or one long one) within ``MAX_UNIT_CHARS / 2``; each with its first and last sentence."""
    whole = " ".join(sentences)
    if not sentences or len(whole) <= PARAGRAPH_CHARS:
        return [(0, len(sentences) - 1, whole)] if whole else []
    runs: list[tuple[int, int, str]] = []
    for start in range(len(sentences)):
        run = sentences[start]
        if len(run) >= MIN_RUN_CHARS:
            runs.append((start, start, run))
        for end in range(start + 1, len(sentences)):
            if len(run) + 1 + len(sentences[end]) > MAX_UNIT_CHARS // 2:
                break
            run = f"{run} {sentences[end]}"
            runs.append((start, end, run))
    return runs or [(0, len(sentences) - 1, whole[:MAX_UNIT_CHARS])]


def _shows_code(text: str) -> bool:
    return "`" in text or "\n    " in text


def _score(unit: Unit, wanted: set[str], focus: set[str], how: bool) -> float:
    words = set(content_words(unit.text))
    shared = len(wanted & words) + len(focus & words)
    bonus = CODE_BONUS if how and unit.shows_code and shared else 0.0
    # Shared distinct words first, then a nudge toward shorter units.
    return shared + bonus - 0.0005 * len(unit.text) - (WHOLE_PASSAGE_COST if unit.whole else 0.0)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A passage's units in its order, and the strongest of them by shared words, best first."""

    units: list[Unit]
    best: list[tuple[Unit, float]]
    how: bool


def rank_units(question: str, content: str, *, message: str | None = None, keep: int = 4) -> Ranked:
    """The ``keep`` units of ``content`` sharing the most words with ``question``, with their scores.

    ``message`` is what the person wrote when ``question`` was rewritten to stand alone (a follow-up): its own
    words count twice, so "and for async?" quotes the async part of the passage the first question found."""
    units = units_of(content)
    wanted = set(content_words(question))
    focus = set(content_words(message)) if message else wanted
    how = asks_how(message or question)
    scored = sorted(((unit, _score(unit, wanted, focus, how)) for unit in units), key=lambda pair: -pair[1])
    return Ranked(units, scored[:keep], how)


def _overlaps(unit: Unit, shown: list[Unit]) -> bool:
    """Whether ``unit`` repeats a shown one, or a shown one repeats it (labels aside)."""
    return any(
        _body(unit) in _spaced(other.text) or _body(other) in _spaced(unit.text) or _share_sentences(unit, other)
        for other in shown
    )


def _show(unit: Unit, shown: list[Unit]) -> None:
    """Add ``unit`` to ``shown`` if it ``_adds`` to it, in place of the shown units that it holds whole."""
    if _adds(unit, shown):
        shown[:] = [*_held_elsewhere(unit, shown), unit]


def _adds(unit: Unit, shown: list[Unit]) -> bool:
    """Whether ``unit`` repeats none of ``shown`` but the units it holds whole, labels included: a sentence, then
    the list that it leads into quoted with that sentence, is the list's unit once."""
    return not _overlaps(unit, _held_elsewhere(unit, shown))


def _held_elsewhere(unit: Unit, shown: list[Unit]) -> list[Unit]:
    """The shown units that ``unit`` does not hold whole."""
    text = _spaced(unit.text)
    return [other for other in shown if _spaced(other.text) not in text]


def _body(unit: Unit) -> str:
    # Compared with whitespace collapsed: a run of sentences is re-joined with single spaces, while the whole
    # passage keeps the source's spacing (two after a full stop, as many rST and Markdown files have).
    return _spaced(unit.text.removeprefix(unit.label))


def _share_sentences(one: Unit, other: Unit) -> bool:
    """Whether two runs of one paragraph have a sentence in common."""
    if one.at is None or other.at is None or one.at[0] != other.at[0]:
        return False
    return one.at[1] <= other.at[2] and other.at[1] <= one.at[2]


def _spaced(text: str) -> str:
    return " ".join(text.split())


def following(unit: Unit, units: list[Unit]) -> list[Unit]:
    """The shortest unit that starts right after ``unit`` ends, and the one after it too when it is shorter than
    ``MIN_RUN_CHARS`` (an aside): where a passage goes on from the part that restates the question (the
    problem, the situation) to what to do about it."""
    nxt = _next(unit, units)
    if nxt is None or len(nxt.text) >= MIN_RUN_CHARS:
        return [] if nxt is None else [nxt]
    after = _next(nxt, units)
    return [nxt] if after is None else [nxt, after]


def _next(unit: Unit, units: list[Unit]) -> Unit | None:
    """The shortest of the units that start first after ``unit`` ends (none for the whole passage)."""
    if unit.at is None:
        return None
    end = (unit.at[0], unit.at[2])
    later = [(u.at[:2], len(u.text), n) for n, u in enumerate(units) if u.at is not None and u.at[:2] > end]
    return units[min(later)[2]] if later else None


def compose(ranked: Ranked, order: list[Unit] | None = None, *, units: int = 1) -> str:
    """The quote: the first ``units`` units of ``order`` (default: by shared words) that don't overlap and the
    unit that follows the first of them, in the passage's order, cut to ``MAX_UNIT_CHARS`` together. When the
    question asks how and none of them shows code, the next one that does joins them: the command after the
    explanation.

    The part closest to the question often restates it ("If another program is already using port 5000…"); what
    to do about it comes next. Measured on docs-qa: 2 more correct answers in 150, none fewer, replies 7 and 13 %
    longer. Taking that unit from the next chunk when the closest part ends a passage (any unit, not only the
    block a paragraph introduces, which ``extract_answer.passages`` adds) gained 3 and lost 3: not done."""
    order = order or [unit for unit, _ in ranked.best]
    if not order:
        return ""
    shown: list[Unit] = []
    for unit in order:
        if len(shown) < units:
            _show(unit, shown)
    for after in following(order[0], ranked.units):
        _show(after, shown)
    if ranked.how and not any(unit.shows_code for unit in shown):
        code = next((u for u in order if u.shows_code and u not in shown and _adds(u, shown)), None)
        if code is not None:
            _show(code, shown)
    shown.sort(key=ranked.units.index)
    # Several units share a budget a little larger than one unit's: the quote stays readable in a chat thread.
    each = MAX_UNIT_CHARS if len(shown) == 1 else MAX_UNIT_CHARS * 4 // (3 * len(shown))
    return "\n\n".join(_clipped(unit, each) for unit in shown)


def _clipped(unit: Unit, limit: int) -> str:
    """``clip`` of the unit, which cuts its label when both don't fit: the part after it is what was chosen."""
    body = unit.text.removeprefix(unit.label).lstrip("\n")
    room = limit - len(body) - 2
    if not unit.label or len(unit.text) <= limit or room < MIN_LABEL_ROOM:
        return clip(unit.text, limit)
    return f"{clip(unit.label, room)}\n\n{body}"


def best_unit(question: str, content: str, *, message: str | None = None, units: int = 1) -> str:
    """The quote ``compose`` makes from the units sharing the most words with the question (the passage, cut,
    when it has none)."""
    ranked = rank_units(question, content, message=message)
    return compose(ranked, units=units) if ranked.units else clip(content)


def clip(text: str, limit: int = MAX_UNIT_CHARS) -> str:
    """``text`` within ``limit`` characters, cut at a line boundary; a fence left open is closed again."""
    if len(text) <= limit:
        return text
    kept: list[str] = []
    size = 0
    for line in text.split("\n"):
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    if not kept:  # one very long line: cut at a word
        return text[: limit - 1].rsplit(" ", 1)[0] + "…"
    cut = "\n".join(kept).rstrip()
    fence = open_fence(cut)
    return f"{cut}\n{fence}\n…" if fence else f"{cut}\n…"


def open_fence(text: str) -> str | None:
    """The fence that ``text`` opens and never closes, if any: what would close it."""
    lines = text.split("\n")
    spans = fence_spans(lines)
    if not spans or spans[-1][1] != len(lines):
        return None
    start = spans[-1][0]
    opening = lines[start].strip()
    fence = opening[: len(opening) - len(opening.lstrip(opening[0]))]
    last = lines[-1].strip()
    closed = len(lines) - start > 1 and last.startswith(fence) and not last.strip(fence[0])
    return None if closed else fence
