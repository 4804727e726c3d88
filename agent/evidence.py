"""How strongly the retrieved passages support answering: the score ``decide`` compares with
``AGENT_MIN_SIMILARITY``.

With an LLM it is the best passage's similarity; the model then checks the passages itself and says when they
do not hold the answer. Without one, a passage can be on the right topic and still not hold the answer (a
follow-up asking for a price the document never gives), and nothing else would notice. So extractive mode
also embeds the quote it would show (the top passage's sentences that share the most words with the person's
own message) and mixes its similarity to that message into the score.

Measured with ``threadwise eval threshold`` and ``threadwise eval answers`` (``docs/agent.md`` has the tables):
MTRAG-UN's held-out half went from 81.2 % answered / 69.6 % refused (passage alone, threshold 0.45) to 77.3 % /
78.3 % (threshold 0.465), and SQuAD questions answered from 87.6 % to 92.4 %. The price is one more
query-sized embedding per extractive answer, the quote's (the message's own is made when the answer begins):
SQuAD's p50 latency went from 29 to 42 ms.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agent.extractive import best_passage, split_sentences
from knowledge.search import SearchHit
from knowledge.service import KnowledgeBase

QUOTE_WEIGHT = 0.75
"""The quote's similarity counts three quarters as much as the passage's (chosen with the figures above)."""
QUOTE_CHARS = 300
"""As long as a source's excerpt: half the embedding time of a full 600-character extract."""
LEAD_IN_CHARS = 200
"""At most this much of the sentence before a quote that is a code block alone is embedded with it."""
_FENCES = ("```", "~~~")


def with_lead_in(quote: str, content: str) -> str:
    """``quote`` with the sentence before it in ``content`` when the quote is a code block alone.

    Code on its own resembles no question ("$ pip install sentry-sdk[flask]" against "How do we hook up Sentry?":
    0.36), while the answer shows it after the sentence that introduces it, and that pair is what to judge."""
    block = quote.strip()
    at = content.find(block)
    if not block.startswith(_FENCES) or at <= 0:
        return quote
    before = [sentence for sentence in split_sentences(content[:at]) if sentence.strip()]
    if not before:
        return quote
    return f"{before[-1][-LEAD_IN_CHARS:]}\n\n{block}"


def best_similarity(hits: list[SearchHit]) -> float | None:
    return max((h.similarity for h in hits if h.similarity is not None), default=None)


def mixed_score(passage_similarity: float, quote_similarity: float) -> float:
    """A weighted mean, so the score stays on the similarity scale and one threshold serves both modes."""
    return (passage_similarity + QUOTE_WEIGHT * quote_similarity) / (1 + QUOTE_WEIGHT)


async def extractive_evidence(
    knowledge: KnowledgeBase,
    hits: list[SearchHit],
    *,
    message: str,
    message_vector: npt.NDArray[np.float32] | None,
    standalone_vector: npt.NDArray[np.float32] | None = None,
) -> float | None:
    """The evidence for quoting ``hits[0]`` in reply to ``message``, whose embedding the answer started with
    (``agent.prefetch``; None if that failed, and it is embedded here).

    For a follow-up, ``standalone_vector`` is the embedding of the question it was rewritten into: the quote is
    then judged by the mean of its similarity to both, since an elliptical message ("how many workers?")
    resembles nothing alone, while the rewritten one carries the earlier topic that an unanswerable follow-up
    ("and its price?") should not borrow in full."""
    passage = best_similarity(hits)
    if passage is None:
        return None
    if message_vector is None:
        message_vector = await knowledge.embed_query(message)
    quote = with_lead_in(best_passage(message, hits[0].content, max_chars=QUOTE_CHARS), hits[0].content)
    quote_vector = await knowledge.embed_query(quote)
    closeness = float(np.dot(message_vector, quote_vector))
    if standalone_vector is not None:
        closeness = (closeness + float(np.dot(standalone_vector, quote_vector))) / 2
    return mixed_score(passage, closeness)
