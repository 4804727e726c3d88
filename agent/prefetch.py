"""The question's embedding, started when an answer begins so that it overlaps loading the conversation.

Most questions are searched as asked (a new thread, or a follow-up that needs no rewording); for those the
embedding is ready by the time the graph reaches ``retrieve``. A condensed follow-up is embedded anew.
"""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt

from core.futures import drop_outcome
from knowledge.service import KnowledgeBase


class QueryEmbedding:
    def __init__(self, knowledge: KnowledgeBase, question: str) -> None:
        self.question = question
        self._future = asyncio.ensure_future(knowledge.embed_query(question.strip()))  # as search() would
        self._future.add_done_callback(drop_outcome)

    async def for_question(self, question: str) -> npt.NDArray[np.float32] | None:
        """The embedding if ``question`` is the one embedded, else None (the search embeds it itself)."""
        if question != self.question:
            return None
        try:
            return await self._future
        except Exception:  # the search embeds again and reports the failure in its own words
            return None
