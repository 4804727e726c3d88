"""The answer without an LLM: the best answer unit of each of the strongest passages, each cited once.

The text carries no preamble: every surface says once, in its own way, that the reply is an extract
(``AnswerReply.extractive``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from agent.answer_units import clip, compose, rank_units
from knowledge.markdown_blocks import ATTACHED_KINDS, split_blocks
from knowledge.search import SearchHit
from knowledge.service import KnowledgeBase

LEAD_IN_ENDINGS = (":", "…", "...")
EMBED_CHARS = 600
"""A candidate unit is judged by its first characters: the embedder reads 256 tokens at most."""
LEXICAL_WEIGHT = 0.05
"""What one shared word adds to a candidate's cosine similarity to the question."""


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


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


def ends_with_lead_in(content: str) -> bool:
    """Whether the passage stops right after a sentence that introduces something: the chunk was cut there."""
    blocks = split_blocks(content)
    return bool(blocks) and blocks[-1].kind == "paragraph" and blocks[-1].text.rstrip().endswith(LEAD_IN_ENDINGS)


def with_introduced_block(content: str, following: str | None) -> str:
    """``content`` and the code, list or table its last sentence introduces, found near the start of the next
    chunk (which may first repeat the end of this one)."""
    if following is None:
        return content
    for block in split_blocks(following)[:3]:
        if block.kind in ATTACHED_KINDS:
            return f"{content}\n\n{block.text}"
    return content


async def passages(knowledge: KnowledgeBase, hits: Sequence[SearchHit]) -> list[str]:
    """Each hit's text, completed by the block it was cut before when it ends with a lead-in."""
    texts: list[str] = []
    for hit in hits:
        if ends_with_lead_in(hit.content):
            texts.append(with_introduced_block(hit.content, await knowledge.next_passage(hit.chunk_id)))
        else:
            texts.append(hit.content)
    return texts


async def extract_quotes(
    knowledge: KnowledgeBase,
    hits: Sequence[SearchHit],
    texts: Sequence[str],
    *,
    question: str,
    question_vector: npt.NDArray[np.float32],
    message: str,
) -> list[tuple[SearchHit, str]]:
    """Each hit with the unit of its text (``passages``) it would quote, a hit whose unit was already quoted
    (overlapping chunks, a page copied into two places) left out.

    The units sharing the most words with the question are candidates; of those, the one whose meaning is closest
    to the question wins (one batch of embeddings for all the hits' candidates)."""
    rankings = [rank_units(question, text, message=message if message != question else None) for text in texts]
    candidates = [unit for ranked in rankings for unit, _ in ranked.best]
    vectors = await knowledge.embed_passages([unit.text[:EMBED_CHARS] for unit in candidates]) if candidates else None
    closeness = (
        dict(zip(map(id, candidates), (vectors @ question_vector).tolist(), strict=True)) if vectors is not None else {}
    )
    quoted: list[tuple[SearchHit, str]] = []
    seen: list[str] = []
    for hit, text, ranked in zip(hits, texts, rankings, strict=True):
        if not ranked.units:
            unit = clip(text)
        else:
            order = sorted(ranked.best, key=lambda pair: -(closeness[id(pair[0])] + LEXICAL_WEIGHT * pair[1]))
            unit = compose(ranked, [u for u, _ in order])
        key = _normalised(unit)
        if any(key in earlier or earlier in key for earlier in seen):
            continue
        seen.append(key)
        quoted.append((hit, unit))
    return quoted


def extract_text(quotes: Sequence[str]) -> str:
    return "\n\n".join(cite(quote, number) for number, quote in enumerate(quotes, start=1))
