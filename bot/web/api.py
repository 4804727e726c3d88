"""``POST /api/v1/ask`` (the agent over HTTP, as one JSON reply or as server-sent events) and
``POST /api/v1/feedback`` (votes on the answers it gave)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent.feedback import MAX_COMMENT_CHARS, FeedbackStore
from agent.schemas import MAX_QUESTION_CHARS, AnswerReply, AnswerRequest, ConversationKey, StreamDelta
from agent.service import AgentService
from bot.feedback import record_vote
from bot.web.auth import require_admin_token

API_PLATFORM = "api"
"""The platform of conversations held through this API (and the playground page, which uses it)."""
VOTE_REACTIONS: dict[str, tuple[str | None, int]] = {"up": ("+1", 1), "down": ("-1", -1), "none": (None, 0)}
"""A vote through the API is stored like a 👍/👎 reaction of that name; ``none`` withdraws either."""

router = APIRouter(prefix="/api/v1", tags=["agent"], dependencies=[Depends(require_admin_token)])


class AskBody(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, examples=["How do I rotate the signing key?"])
    conversation_id: str | None = Field(
        default=None,
        max_length=200,
        description="Send the same id again to ask follow-ups in one conversation; omitted, a new one starts.",
    )
    tenant: str = Field(default="local", min_length=1, max_length=200)
    collections: list[str] | None = Field(default=None, description="Collections to search (default: all).")
    stream: bool = Field(default=False, description="Answer as server-sent events: `delta` events, then `final`.")


class AskResponse(AnswerReply):
    conversation: str
    """The conversation id to send with follow-ups."""


def get_agent(request: Request) -> AgentService:
    agent: AgentService = request.state.agent
    return agent


AgentDep = Annotated[AgentService, Depends(get_agent)]

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The reply as JSON, or with `stream: true` a `text/event-stream` of `delta` events "
        '(`{"text": …}`, partial answer text) and one `final` event (the reply object).',
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post("/ask", response_model=AskResponse, responses=_STREAM_DOC)
async def ask(body: AskBody, agent: AgentDep) -> AskResponse | StreamingResponse:
    """Ask the knowledge base; the answer cites its sources as [n]."""
    conversation = body.conversation_id or uuid.uuid4().hex
    request = AnswerRequest(
        question=body.question,
        conversation=ConversationKey(tenant=body.tenant, platform=API_PLATFORM, channel=conversation),
        collections=body.collections,
    )
    if not body.stream:
        reply = await agent.answer(request)
        return AskResponse(**reply.model_dump(), conversation=conversation)
    return StreamingResponse(_events(agent, request, conversation), media_type="text/event-stream")


class FeedbackBody(BaseModel):
    message_id: int = Field(gt=0, description="The `message_id` of an answer this API gave.")
    vote: Literal["up", "down", "none"] = Field(description="`none` takes the user's vote back.")
    comment: str | None = Field(
        default=None, max_length=MAX_COMMENT_CHARS, description="What was missing or wrong; kept with the user's vote."
    )
    user: str = Field(default="api", min_length=1, max_length=100, description="Who votes (one vote per user).")
    tenant: str = Field(default="local", min_length=1, max_length=200)


@router.post("/feedback", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def feedback(body: FeedbackBody, agent: AgentDep) -> None:
    """Vote on an answer (👍 up, 👎 down; changeable), take the vote back, or add a comment to it."""
    store = FeedbackStore(agent.store.sessionmaker, tracing=agent.tracing)
    answer = await store.answer(message_id=body.message_id, platform=API_PLATFORM, tenant=body.tenant)
    if answer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no answer {body.message_id} was given through this API")
    reaction, score = VOTE_REACTIONS[body.vote]
    comment = (body.comment or "").strip() or None
    await record_vote(
        store, answer, platform=API_PLATFORM, user_id=body.user, score=score, reaction=reaction, comment=comment
    )


async def _events(agent: AgentService, request: AnswerRequest, conversation: str) -> AsyncIterator[str]:
    async for event in agent.stream(request):
        if isinstance(event, StreamDelta):
            yield f"event: delta\ndata: {event.model_dump_json(include={'text'})}\n\n"
        else:
            final = AskResponse(**event.reply.model_dump(), conversation=conversation)
            yield f"event: final\ndata: {final.model_dump_json()}\n\n"
