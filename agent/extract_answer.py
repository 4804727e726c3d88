"""The answer without an LLM: the best answer unit of each of the strongest passages, each cited once.

The text carries no preamble: every surface says once, in its own way, that the reply is an extract
(``AnswerReply.extractive``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agent.answer_units import best_unit, refers_back
from agent.extractive import content_words
from knowledge.markdown_blocks import ATTACHED_KINDS, Block, split_blocks
from knowledge.search import SearchHit
from knowledge.service import KnowledgeBase

REPEAT_SHARE = 0.8
"""A quote whose word runs were this much said already is left out."""
UNITS_FROM_BEST = 2
"""Units quoted from the best passage: the answer is often the part next to the one closest to the question."""
EXTRACT_SOURCES = 3
"""An extractive answer quotes at most this many passages."""
NEARLY_AS_CLOSE = 0.1
"""A passage after the best is quoted when its similarity is within this of the best one's (and at the threshold)."""


def passages_to_quote(hits: Sequence[SearchHit], *, threshold: float) -> list[SearchHit]:
    """The best hit, whatever its similarity, then those of the next ones at the threshold and nearly as close.

    The ranker's best is always quoted: its quote is what the evidence judged, and a passage that the keyword
    search found by the words of a pasted error message may resemble the question less than a vaguer one does.
    Measured with ``threadwise eval``, against keeping the best hit only above the threshold: SQuAD's gold answer
    in the reply 82.1 → 83.9 % of 1,000 questions; docs-qa Flask one more correct of 81 (the error message)."""
    if not hits:
        return []
    top = hits[0].similarity or 0.0
    floor = max(threshold, top - NEARLY_AS_CLOSE)
    return [hits[0], *(hit for hit in hits[1:EXTRACT_SOURCES] if (hit.similarity or 0.0) >= floor)]


def _shingles(text: str) -> set[tuple[str, ...]]:
    """The text's runs of three words, lowercased, punctuation aside: what two wordings of one sentence share."""
    words = content_words(text) or text.lower().split()
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def repeats(quote: str, earlier: Sequence[str]) -> bool:
    """Whether most of ``quote`` was already quoted: overlapping chunks, a sentence copied across two pages."""
    own = _shingles(quote)
    said = set().union(*(_shingles(text) for text in earlier)) if earlier else set()
    return len(own & said) >= REPEAT_SHARE * len(own)


def cite(quote: str, number: int) -> str:
    """``quote`` with its ``[n]``: after the sentence that leads it, or on a line of its own after a block."""
    marker = f"[{number}]"
    blocks = split_blocks(quote)
    if blocks and blocks[0].kind == "paragraph":
        lines = quote.split("\n")
        last = blocks[0].end - 1
        lines[last] = f"{lines[last].rstrip()} {marker}"
        return "\n".join(lines)
    return f"{quote}\n\n{marker}"


def _cut_off(blocks: Iterable[Block], content: str) -> str | None:
    """The first of ``blocks`` that ``content`` does not already hold (neighbouring chunks overlap), when it is a
    code block, list or table: the block the chunker cut from ``content``."""
    for block in blocks:
        if block.text not in content:
            return block.text if block.kind in ATTACHED_KINDS else None
    return None


def with_opening_block(content: str, following: str | None) -> str:
    """``content`` and the code, list or table that the next chunk opens with (after what it repeats of this one's
    end), which the paragraph ending ``content`` introduces: "Run these commands:", or a paragraph the chunker
    could not keep with its block."""
    block = _cut_off(split_blocks(following or ""), content)
    return f"{content}\n\n{block}" if block else content


def with_described_block(content: str, previous: str | None) -> str:
    """``content`` after the code, list or table that ends the previous chunk of its section, when the paragraph
    opening ``content`` is about it ("This creates and returns a ``Celery`` app object.")."""
    blocks = split_blocks(content)
    if not blocks or not refers_back(blocks[0], blocks[1] if len(blocks) > 1 else None):
        return content
    block = _cut_off(reversed(split_blocks(previous or "")), content)
    return f"{block}\n\n{content}" if block else content


async def passages(knowledge: KnowledgeBase, hits: Sequence[SearchHit]) -> list[str]:
    """Each hit's text, completed by the blocks the chunker cut it from: at its end, the one that opens the next
    chunk right after its last paragraph; at its start, the one that its first paragraph describes.

    The chunker keeps a block with the paragraph before it whenever both fit one chunk; this covers the blocks
    too big to (a command and its output after a long paragraph, a long example before what explains it)."""
    neighbours = await knowledge.neighbour_passages([hit.chunk_id for hit in hits])

    def completed(hit: SearchHit) -> str:
        around = neighbours.get(hit.chunk_id)
        if around is None:
            return hit.content
        text = hit.content
        blocks = split_blocks(text)
        if blocks and blocks[-1].kind == "paragraph":
            text = with_opening_block(text, around.next)
        return with_described_block(text, around.previous)

    return [completed(hit) for hit in hits]


def extract_quotes(
    hits: Sequence[SearchHit], texts: Sequence[str], *, question: str, message: str
) -> list[tuple[SearchHit, str]]:
    """Each hit with what it would quote from its text (``passages``): the best passage two units, the others
    one, each with the unit that follows its best (``compose``); a hit whose quote was already quoted
    (overlapping chunks, a page copied into two places) left out.

    Ranking units by meaning as well (one batch of embeddings for every hit's candidates) was measured on
    docs-qa: one more correct answer in 150, one fewer follow-up in 16, and p95 latency from 38 to 190 ms."""
    quoted: list[tuple[SearchHit, str]] = []
    seen: list[str] = []
    follow_up = message if message != question else None
    for rank, (hit, text) in enumerate(zip(hits, texts, strict=True)):
        unit = best_unit(question, text, message=follow_up, units=UNITS_FROM_BEST if rank == 0 else 1)
        if repeats(unit, seen):
            continue
        seen.append(unit)
        quoted.append((hit, unit))
    return quoted


def extract_text(quotes: Sequence[str]) -> str:
    return "\n\n".join(cite(quote, number) for number, quote in enumerate(quotes, start=1))
