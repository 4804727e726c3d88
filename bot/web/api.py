"""``POST /api/v1/ask`` (the agent over HTTP, as one JSON reply or as server-sent events) and
``POST /api/v1/feedback`` (votes on the answers it gave)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent.feedback import MAX_COMMENT_CHARS, FeedbackStore
from agent.schemas import (
    MAX_ID,
    MAX_QUESTION_CHARS,
    AnswerReply,
    AnswerRequest,
    ConversationKey,
    RequiredText,
    StorableText,
    StreamDelta,
)
from agent.service import AgentService
from bot.feedback import record_vote, vote_committed
from bot.web.auth import PrincipalDep, require_principal, tenant_of
from bot.web.dependencies import AgentDep, LimitsDep
from bot.web.limits import TOO_MANY_REQUESTS_DOC, admit_question, take_answer_slot
from bot.web.problems import PROBLEM_RESPONSES, Problem
from core.db import session_scope
from knowledge.collections import MAX_NAME_LENGTH

API_PLATFORM = "api"
"""The platform of conversations held through this API (and the playground page, which uses it)."""
MAX_COLLECTIONS = 100
VOTE_REACTIONS: dict[str, tuple[str | None, int]] = {"up": ("+1", 1), "down": ("-1", -1), "none": (None, 0)}
"""A vote through the API is stored like a 👍/👎 reaction of that name; ``none`` withdraws either."""
TENANT_DOC = "Omitted: the API key's tenant, or `local` with the ADMIN_TOKEN. A key may only name its own."

router = APIRouter(
    prefix="/api/v1", tags=["agent"], dependencies=[Depends(require_principal)], responses=PROBLEM_RESPONSES
)


class AskBody(BaseModel):
    question: RequiredText = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, examples=["How do I rotate the signing key?"]
    )
    conversation_id: RequiredText | None = Field(
        default=None,
        max_length=200,
        description="Send the same id again to ask follow-ups in one conversation; omitted, a new one starts.",
    )
    tenant: RequiredText | None = Field(default=None, min_length=1, max_length=200, description=TENANT_DOC)
    collections: list[Annotated[RequiredText, Field(max_length=MAX_NAME_LENGTH)]] | None = Field(
        default=None, max_length=MAX_COLLECTIONS, description="Collections to search (default: all)."
    )
    stream: bool = Field(default=False, description="Answer as server-sent events: `delta` events, then `final`.")


class AskResponse(AnswerReply):
    conversation: str
    """The conversation id to send with follow-ups."""


def _event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """One server-sent event as OpenAPI 3.1 describes a stream's items: its name, and its data as JSON."""
    payload = {"type": "string", "contentMediaType": "application/json", "contentSchema": data}
    return {"type": "object", "required": ["event", "data"], "properties": {"event": {"const": name}, "data": payload}}


_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The reply as JSON, or with `stream: true` a `text/event-stream` of `delta` events "
        '(`{"text": …}`, partial answer text) and one `final` event (the reply object).',
        "content": {
            "text/event-stream": {
                "schema": {
                    "oneOf": [
                        _event(
                            "delta",
                            {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
                        ),
                        _event("final", {"$ref": "#/components/schemas/AskResponse"}),
                    ]
                }
            }
        },
    }
}


@router.post("/ask", response_model=AskResponse, responses=_STREAM_DOC | TOO_MANY_REQUESTS_DOC)
async def ask(
    body: AskBody, agent: AgentDep, principal: PrincipalDep, limits: LimitsDep
) -> AskResponse | StreamingResponse:
    """Ask the knowledge base; the answer cites its sources as [n]."""
    tenant = tenant_of(principal, body.tenant)
    conversation = body.conversation_id or uuid.uuid4().hex
    await admit_question(limits, principal, platform=API_PLATFORM, tenant=tenant, conversation=conversation)
    request = AnswerRequest(
        question=body.question,
        conversation=ConversationKey(tenant=tenant, platform=API_PLATFORM, channel=conversation),
        collections=body.collections,
    )
    lease = await take_answer_slot(limits, platform=API_PLATFORM, tenant=tenant)
    if not body.stream:
        async with limits.holding(lease):
            reply = await agent.answer(request)
        return AskResponse(**reply.model_dump(), conversation=conversation)
    events = _events(agent, request, conversation, limits.holding(lease))
    return StreamingResponse(events, media_type="text/event-stream")


class FeedbackBody(BaseModel):
    message_id: int = Field(gt=0, le=MAX_ID, description="The `message_id` of an answer this API gave.")
    vote: Literal["up", "down", "none"] = Field(description="`none` takes the user's vote back.")
    comment: StorableText | None = Field(
        default=None, max_length=MAX_COMMENT_CHARS, description="What was missing or wrong; kept with the user's vote."
    )
    user: RequiredText = Field(
        default="api",
        min_length=1,
        max_length=100,
        description="Who votes (one vote per user). With an API key it is stored as `key:<key prefix>:<user>`, "
        "so a key can neither vote as nor take back the votes of the operator's users or another key's.",
    )
    tenant: RequiredText | None = Field(default=None, min_length=1, max_length=200, description=TENANT_DOC)


@router.post(
    "/feedback",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: {"model": Problem, "description": "No such answer was given through this API."}},
)
async def feedback(body: FeedbackBody, agent: AgentDep, principal: PrincipalDep) -> None:
    """Vote on an answer (👍 up, 👎 down; changeable), take the vote back, or add a comment to it."""
    tenant = tenant_of(principal, body.tenant)
    store = FeedbackStore(agent.store.sessionmaker, tracing=agent.tracing)
    reaction, score = VOTE_REACTIONS[body.vote]
    comment = (body.comment or "").strip() or None
    async with session_scope(store.sessionmaker) as session:
        answer = await store.answer(session, message_id=body.message_id, platform=API_PLATFORM, tenant=tenant)
        if answer is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"no answer {body.message_id} was given through this API"
            )
        change = await record_vote(
            session,
            store,
            answer,
            user_id=principal.user_id(body.user),
            score=score,
            reaction=reaction,
            comment=comment,
        )
    await vote_committed(store, change, platform=API_PLATFORM)


async def _events(
    agent: AgentService, request: AnswerRequest, conversation: str, slot: AbstractAsyncContextManager[None]
) -> AsyncIterator[str]:
    # Detached: a client that disconnects cancels this generator, not the answer, which is still stored. The
    # tenant's answer slot (taken before the response began, so it could still be a 429) is held by the answer's
    # own task: leaving early frees no slot while the answer still runs.
    async for event in agent.stream_detached(request, hold=slot):
        if isinstance(event, StreamDelta):
            yield f"event: delta\ndata: {event.model_dump_json(include={'text'})}\n\n"
        else:
            final = AskResponse(**event.reply.model_dump(), conversation=conversation)
            yield f"event: final\ndata: {final.model_dump_json()}\n\n"
