"""Verified answers: an admin marks a good answer (✅ in Slack, the dashboard's button) and its question and
answer become a document in the tenant's ``verified-answers`` collection. Searches read that collection like
any other; the agent then puts a verified answer first when it is close to the question asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.models import Conversation, Message
from agent.text_vectors import TextVectors
from core.db import session_scope
from knowledge.audience import channel_audience
from knowledge.documents import SourceDocument
from knowledge.search import SearchHit
from knowledge.service import KnowledgeBase

VERIFIED_COLLECTION = "verified-answers"
"""Where verified answers go; those given in a channel with private history go to ``verified-answers@<audience>``,
shown only in that channel (an answer there may quote what only its members may read)."""
SOURCE_URI_PREFIX = "verified-answer:"
"""A verified answer's document is ``verified-answer:<answer message id>``."""
PREFER_SIMILARITY = 0.6
"""A verified answer goes first when its question is at least this similar (cosine) to the one asked.
Questions are compared with questions. Measured with MiniLM against "How many vacation days do new employees
get?": the paraphrases "How many days of vacation does a new employee have?" 0.95, "What is the holiday allowance
for new hires?" 0.71 and "How much paid time off do new staff receive?" 0.58 (missed); the other questions "Do
unused vacation days expire?" 0.57, "How do I book annual leave?" 0.37, "Who approves my leave request?" 0.15."""
LOOKAHEAD = 3
"""Extra hits fetched so that a verified answer just below the cut can still be moved up."""
_CITATION = re.compile(r"\s*\[\d+\]")


class NotVerifiableError(ValueError):
    """The message is not an answer the bot gave (or not to this tenant), or it was not an answer at all."""


@dataclass(frozen=True, slots=True)
class VerifiedAnswer:
    answer_id: int
    tenant: str
    source_uri: str
    question: str


def is_verified_collection(name: str) -> bool:
    return name == VERIFIED_COLLECTION or name.startswith(f"{VERIFIED_COLLECTION}@")


def _private_collection(conversation: Conversation) -> str:
    return f"{VERIFIED_COLLECTION}@{channel_audience(conversation.platform, conversation.channel)}"


def source_uri(answer_id: int) -> str:
    return f"{SOURCE_URI_PREFIX}{answer_id}"


async def prefer_verified(
    questions: TextVectors,
    hits: Sequence[SearchHit],
    *,
    question_vector: npt.NDArray[np.float32],
    limit: int,
) -> list[SearchHit]:
    """Verified answers whose question is close to the one asked (``question_vector``) first, closest first,
    then the other hits in their order; at most ``limit``. A verified question is embedded the first time it is
    among the hits; ``questions`` keeps its vector for the next answers."""
    candidates = [hit for hit in hits if is_verified_collection(hit.collection)]
    if not candidates:
        return list(hits[:limit])
    # A verified answer's heading is its question (the document's title).
    headings = [hit.heading_path or hit.title for hit in candidates]
    asked = await questions.of(headings)
    scores = asked @ question_vector
    ranked = sorted(zip(scores.tolist(), candidates, strict=True), key=lambda pair: -pair[0])
    preferred = [hit for score, hit in ranked if score >= PREFER_SIMILARITY]
    chosen = {hit.chunk_id for hit in preferred}
    return (preferred + [hit for hit in hits if hit.chunk_id not in chosen])[:limit]


class VerifiedAnswers:
    def __init__(self, knowledge: KnowledgeBase, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.knowledge = knowledge
        self.sessionmaker = sessionmaker

    async def verify(self, answer_id: int, *, verified_by: str, tenant: str | None = None) -> VerifiedAnswer:
        """Store the answer and its question as a verified answer (again: updated in place)."""
        found = await self._answer(answer_id, tenant)
        question, answer, conversation = found
        text = _CITATION.sub("", answer.content).strip()
        cited = answer.cited_sources or []
        body = f"# {question}\n\n{text}\n"
        if cited:
            body += "\nSources: " + ", ".join(cited) + "\n"
        document = SourceDocument(
            source_uri=source_uri(answer_id),
            title=question,
            text=body,
            metadata={"verified_by": verified_by, "answer_id": answer_id, "platform": conversation.platform},
        )
        collection = await self._collection_for(conversation)
        report = await self.knowledge.add_documents([document], tenant=conversation.tenant, collection=collection)
        if report.failed:
            raise NotVerifiableError(f"the answer could not be stored: {report.failed[0][1]}")
        return VerifiedAnswer(answer_id, conversation.tenant, document.source_uri, question)

    async def unverify(self, answer_id: int, *, tenant: str | None = None) -> bool:
        """Take a verified answer back; False when it was not verified."""
        _, _, conversation = await self._answer(answer_id, tenant)
        removed = 0
        for collection in {VERIFIED_COLLECTION, _private_collection(conversation)}:
            removed += await self.knowledge.remove_documents(
                [source_uri(answer_id)], tenant=conversation.tenant, collection=collection
            )
        return removed > 0

    async def _collection_for(self, conversation: Conversation) -> str:
        """The tenant's verified answers, unless the channel has private history: then the channel's own."""
        audience = channel_audience(conversation.platform, conversation.channel)
        if not await self.knowledge.audience_in_use(tenant=conversation.tenant, audience=audience):
            return VERIFIED_COLLECTION
        collection = _private_collection(conversation)
        await self.knowledge.collection_for(tenant=conversation.tenant, name=collection, audience=audience)
        return collection

    async def _answer(self, answer_id: int, tenant: str | None) -> tuple[str, Message, Conversation]:
        async with session_scope(self.sessionmaker) as session:
            row = (
                await session.execute(
                    select(Message, Conversation)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(Message.id == answer_id, Message.role == "assistant")
                )
            ).first()
            if row is None or (tenant is not None and row.Conversation.tenant != tenant):
                raise NotVerifiableError(f"message {answer_id} is not an answer of this bot's")
            answer, conversation = row.Message, row.Conversation
            if answer.outcome != "answered":
                raise NotVerifiableError(f"message {answer_id} did not answer the question ({answer.outcome})")
            question = await session.scalar(
                select(func.coalesce(Message.standalone_question, Message.content))
                .where(Message.conversation_id == conversation.id, Message.role == "user", Message.id < answer_id)
                .order_by(Message.id.desc())
                .limit(1)
            )
        if not question:
            raise NotVerifiableError(f"the question answered by message {answer_id} is gone")
        return question, answer, conversation
