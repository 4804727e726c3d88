"""The graph's nodes: load memory → condense → retrieve → (decide) → answer | abstain → save → summarize.

Nodes that call a model raise on failure; the graph's RetryPolicy retries transient failures and its error
handlers move on to the fallback model, then to ``fail``.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langgraph.config import get_stream_writer
from langgraph.errors import NodeError
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent import prompts
from agent.citations import resolve_citations
from agent.coverage import distinctive_terms, missing_names
from agent.coverage import penalty as coverage_penalty
from agent.evidence import best_similarity, extractive_evidence
from agent.extract_answer import extract_quotes, extract_text, passages, passages_to_quote
from agent.extractive import best_passage, condense_extractively
from agent.memory import AnswerRecord, Memory, Turn
from agent.schemas import Source, Usage
from agent.state import AgentContext, AgentState, AnswerContext, AnswerText
from agent.verified import LOOKAHEAD, prefer_verified
from core.db import session_scope
from core.logging import get_logger
from core.metrics import count_error
from core.sentry import report_failure, span
from knowledge.audience import channel_audience
from knowledge.errors import KnowledgeError
from knowledge.search import SearchHit

log = get_logger(__name__)

CLOSEST_SOURCES_WHEN_ABSTAINING = 3
SUMMARIZE_AFTER_TURNS = 4
"""Turns that fell out of the verbatim window before the rolling summary is rewritten."""


def _usage(message: BaseMessage) -> Usage:
    metadata = getattr(message, "usage_metadata", None) or {}
    return Usage(prompt_tokens=metadata.get("input_tokens", 0), completion_tokens=metadata.get("output_tokens", 0))


def _model_name(message: BaseMessage, configured: str) -> str:
    served = (message.response_metadata or {}).get("model_name") or (message.response_metadata or {}).get("model")
    provider = configured.partition(":")[0]
    return f"{provider}:{served}" if served else configured


def _history(memory: Memory) -> str:
    return "\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.content}" for t in memory.turns)


def to_source(number: int, hit: SearchHit, question: str) -> Source:
    return Source(
        number=number,
        title=hit.title,
        heading_path=hit.heading_path,
        source_uri=hit.source_uri,
        chunk_id=hit.chunk_id,
        collection=hit.collection,
        similarity=hit.similarity,
        excerpt=best_passage(question, hit.content, max_chars=300),
        url=hit.url,
    )


async def load_memory(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    memory = await runtime.context.store.open_and_load(
        state["request"].conversation, budget_tokens=runtime.context.settings.history_tokens
    )
    # The question as asked is already standalone in a new conversation; condense replaces it otherwise.
    return {"conversation_id": memory.conversation_id, "memory": memory, "question": state["request"].question}


def needs_condensing(state: AgentState) -> Literal["condense", "retrieve"]:
    """Only a follow-up (a conversation with earlier turns) is rewritten into a standalone question. A mention
    outside a thread starts a conversation of its own, and each step of the graph costs CPU on the event loop
    that also acks events."""
    return "retrieve" if state["memory"].is_empty else "condense"


async def condense(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    question = state["request"].question
    memory = state["memory"]
    models = runtime.context.models
    if models is None:
        return {"question": condense_extractively(question, memory.earlier_questions)}
    history = _history(memory)
    if memory.summary:
        history = f"{prompts.SUMMARY_CONTEXT.format(summary=memory.summary)}\n{history}"
    reply = await models.runnable().ainvoke(
        [
            SystemMessage(prompts.CONDENSE_SYSTEM),
            HumanMessage(prompts.CONDENSE_USER.format(history=history, question=question)),
        ]
    )
    standalone = str(reply.content).strip() or question
    return {"question": standalone[:4000], "usage": _usage(reply)}


async def retrieve(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    context = runtime.context
    request = state["request"]
    question = state["question"]
    collections = request.collections or context.settings.collections or None
    terms = distinctive_terms(request.question)
    vector = await context.query_embedding.for_question(question)
    with span("threadwise.retrieve", "retrieve"):
        if vector is None:  # a rephrased follow-up: embedded once here, for the search and for prefer_verified
            vector = await context.knowledge.embed_query(question)
        tenant = request.conversation.tenant
        # What was learnt in a private channel is shown only there (a thread's channel is its parent's).
        audiences = {channel_audience(request.conversation.platform, request.conversation.channel)}
        hits, unknown, thresholds = await asyncio.gather(
            context.knowledge.search(
                question,
                tenant=tenant,
                collections=collections,
                limit=context.settings.sources + LOOKAHEAD,
                query_vector=vector,
                audiences=audiences,
            ),
            context.knowledge.unknown_words(
                [term.word for term in terms], tenant=tenant, collections=collections, audiences=audiences
            ),
            context.knowledge.thresholds(
                tenant=tenant,
                collections=collections,
                mode="extractive" if context.models is None else "llm",
                audiences=audiences,
            ),
        )
        hits = await prefer_verified(
            context.verified_questions, hits, question_vector=vector, limit=context.settings.sources
        )
    if context.models is not None:
        evidence = best_similarity(hits)
    else:
        # The person's own message was embedded when the answer began, whether or not the search used it.
        message_vector = await context.query_embedding.for_question(request.question)
        evidence = await extractive_evidence(
            context.knowledge,
            hits,
            message=request.question,
            message_vector=message_vector,
            standalone_vector=vector if question != request.question else None,
        )
    if evidence is not None:
        evidence -= coverage_penalty(terms, unknown)
    # A collection calibrated on its team's own questions (``threadwise eval threshold --collection``) judges the
    # answer drawn from it by its own threshold.
    default = context.settings.min_similarity
    return {
        "hits": hits,
        "evidence": evidence,
        "missing": missing_names(terms, unknown),
        "threshold": thresholds.get(hits[0].collection, default) if hits else default,
    }


def decide(state: AgentState, runtime: Runtime[AnswerContext]) -> Literal["answer", "abstain"]:
    """Answer only with evidence: its score (see ``agent.evidence``) must reach the threshold."""
    evidence = state.get("evidence")
    return "answer" if evidence is not None and evidence >= state["threshold"] else "abstain"


def _answer_messages(state: AgentState) -> list[BaseMessage]:
    request = state["request"]
    system = prompts.ANSWER_SYSTEM.format(no_answer=prompts.NO_ANSWER_MARKER)
    if request.instructions:
        system += "\n\n" + prompts.CHANNEL_INSTRUCTIONS.format(instructions=request.instructions)
    messages: list[BaseMessage] = [SystemMessage(system)]
    memory = state["memory"]
    if memory.summary:
        messages.append(SystemMessage(prompts.SUMMARY_CONTEXT.format(summary=memory.summary)))
    for turn in memory.turns:
        messages.append(HumanMessage(turn.content) if turn.role == "user" else AIMessage(turn.content))
    sources = "\n\n".join(
        prompts.source_block(i, hit.heading_path or hit.title, hit.content)
        for i, hit in enumerate(state["hits"], start=1)
    )
    messages.append(HumanMessage(prompts.SOURCES_MESSAGE.format(sources=sources, question=state["question"])))
    return messages


def _finish_answer(state: AgentState, reply: BaseMessage, configured: str) -> dict[str, Any]:
    hits = state["hits"]
    text = str(reply.content).strip()
    model = _model_name(reply, configured)
    if not text or prompts.NO_ANSWER_MARKER in text:
        return _abstention(state) | {"model": model, "usage": _usage(reply)}
    text, cited = resolve_citations(text, len(hits))
    question = state["question"]
    if cited:
        sources = [to_source(new, hits[old - 1], question) for new, old in enumerate(cited, start=1)]
    else:  # an answer without citations still shows where it may come from
        sources = [to_source(i, hit, question) for i, hit in enumerate(hits[:CLOSEST_SOURCES_WHEN_ABSTAINING], 1)]
    return {
        "text": text,
        "sources": sources,
        "outcome": "answered",
        "extractive": False,
        "model": model,
        "usage": _usage(reply),
    }


async def _extract(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    """No LLM: quote the best answer unit of the best passage, and of each other one nearly as relevant."""
    chosen = passages_to_quote(state["hits"], threshold=state["threshold"])
    question = state["question"]
    texts = await passages(runtime.context.knowledge, chosen)
    quotes = extract_quotes(chosen, texts, question=question, message=state["request"].question)
    return {
        "text": extract_text([quote for _, quote in quotes]),
        "sources": [to_source(i, hit, question) for i, (hit, _) in enumerate(quotes, start=1)],
        "outcome": "answered",
        "extractive": True,
        "model": None,
    }


async def answer(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    models = runtime.context.models
    if models is None:
        return await _extract(state, runtime)
    with span("threadwise.generate", models.primary_name):
        reply = await _generate(models.primary, _answer_messages(state))
    return _finish_answer(state, reply, models.primary_name)


async def answer_with_fallback(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    models = runtime.context.models
    if models is None or models.fallback is None or models.fallback_name is None:
        raise RuntimeError("answer_with_fallback runs only when a fallback model is configured")
    with span("threadwise.generate", models.fallback_name):
        reply = await _generate(models.fallback, _answer_messages(state))
    return _finish_answer(state, reply, models.fallback_name)


STREAM_EVERY_SECONDS = 0.05
"""How often the answer's text is passed on while the model writes it: its first piece at once, then what came in
each 50 ms, together. A fast model sends a piece every few milliseconds, and each one passed on costs the event
loop the graph's stream, the service's and the surface's handling; no surface shows changes that often (Slack's
edits come every ``QUEUE_UPDATE_INTERVAL``)."""


async def _generate(model: BaseChatModel, messages: list[BaseMessage]) -> BaseMessage:
    """The model's reply, its text passed on as it is written (the graph's ``custom`` stream).

    Only the answer streams, so only it goes through the stream writer. The graph's ``messages`` mode hooks a
    callback into every step and every model call of the run: measured here with an instant model, 11.2 ms of
    event-loop CPU per answer with it, 10.8 ms with this (means of 12 rounds of 500 answers each, in processes
    that alternated).
    """
    write = get_stream_writer()
    chunks: list[AIMessageChunk] = []
    unsent: list[str] = []
    sent_at = -math.inf
    async for chunk in model.astream(messages):
        chunks.append(chunk)
        if not chunk.text:
            continue
        unsent.append(chunk.text)
        if (now := time.monotonic()) - sent_at >= STREAM_EVERY_SECONDS:
            write(AnswerText("".join(unsent)))
            unsent.clear()
            sent_at = now
    if unsent:
        write(AnswerText("".join(unsent)))
    # Merged once at the end (a chunk plus a list of chunks): adding each chunk to the reply so far built a new
    # message per chunk.
    return chunks[0] + chunks[1:] if chunks else AIMessage("")


def _abstention(state: AgentState) -> dict[str, Any]:
    question = state.get("question") or state["request"].question
    closest = state.get("hits", [])[:CLOSEST_SOURCES_WHEN_ABSTAINING]
    missing = state.get("missing") or []
    if missing:
        text = prompts.ABSTAIN_MISSING.format(names=prompts.joined(missing[:3]))
        if closest:
            text = f"{text} {prompts.CLOSEST_PASSAGES}"
    else:
        text = prompts.ABSTAIN_WITH_SOURCES if closest else prompts.ABSTAIN_TEXT
    return {
        "text": text,
        "sources": [to_source(i, hit, question) for i, hit in enumerate(closest, start=1)],
        "outcome": "abstained",
        "extractive": False,
    }


async def abstain(state: AgentState) -> dict[str, Any]:
    return _abstention(state)


def _failure(node: str, error: BaseException) -> dict[str, Any]:
    reference = report_failure(error)
    count_error(f"agent_{node}")
    log.error("answer failed", node=node, reference_id=reference, exc_info=error)
    # Knowledge-base errors are written for people (unknown collection, model mismatch): pass them on.
    text = (
        prompts.SEARCH_ERROR_TEXT.format(problem=error, reference=reference)
        if isinstance(error, KnowledgeError)
        else prompts.ERROR_TEXT.format(reference=reference)
    )
    return {
        "text": text,
        "sources": [],
        "outcome": "error",
        "error": f"{node}: {type(error).__name__}",
        "reference_id": reference,
    }


def on_answer_error(state: AgentState, error: NodeError, runtime: Runtime[AnswerContext]) -> Command[str]:
    """The primary model kept failing: the fallback model gets its turn, if there is one."""
    models = runtime.context.models
    if models is not None and models.fallback is not None:
        log.warning("primary model failed; trying the fallback", exc_info=error.error)
        return Command(goto="answer_with_fallback")
    return Command(goto="save", update=_failure(error.node, error.error))


def on_error(state: AgentState, error: NodeError) -> Command[str]:
    """Any other step failed after its retries: record an error outcome with a reference id."""
    return Command(goto="save", update=_failure(error.node, error.error))


async def save(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    context = runtime.context
    request = state["request"]
    conversation_id = state.get("conversation_id")
    if conversation_id is None:  # memory never loaded (the database failed): nothing to save to
        return {}
    hits = state.get("hits", [])
    usage = state.get("usage") or Usage()
    _, answer_id = await context.store.record(
        conversation_id,
        AnswerRecord(
            question=request.question,
            standalone_question=state.get("question") or request.question,
            answer=state["text"],
            outcome=state["outcome"],
            user_id=request.user_id,
            platform_message_id=request.platform_message_id,
            model=state.get("model"),
            latency_ms=round((time.perf_counter() - state["started"]) * 1000),
            prompt_tokens=usage.prompt_tokens or None,
            completion_tokens=usage.completion_tokens or None,
            chunk_ids=[h.chunk_id for h in hits],
            scores=[h.similarity if h.similarity is not None else h.score for h in hits],
            cited_sources=list(dict.fromkeys(s.source_uri for s in state.get("sources", [])))  # unique, in order
            if state["outcome"] == "answered"
            else [],
            trace_id=request.trace_id,
        ),
    )
    return {"message_id": answer_id}


def needs_summary(state: AgentState) -> Literal["summarize", "__end__"]:
    """Once enough turns have left the verbatim window, the saved answer is followed by rewriting the rolling
    summary."""
    memory = state.get("memory")
    return "summarize" if memory is not None and len(memory.overflow) >= SUMMARIZE_AFTER_TURNS else "__end__"  # END


async def summarize(state: AgentState, runtime: Runtime[AnswerContext]) -> dict[str, Any]:
    return {"usage": await _update_summary(runtime.context, state["memory"])}


def on_summary_error(state: AgentState, error: NodeError) -> dict[str, Any]:
    """Best effort: the answer is saved and stands. The summary failed after its retries, so it is logged and its
    turns stay overflow, summarised on a later turn."""
    log.warning("conversation summary not updated", exc_info=error.error)
    return {}


async def _update_summary(context: AgentContext, memory: Memory) -> Usage:
    """Fold the turns that left the verbatim window into the rolling summary. Raises when that fails: the
    ``summarize`` node's RetryPolicy retries a transient failure, then ``on_summary_error`` gives up on it."""
    through = memory.overflow[-1].id
    if context.models is None:
        questions = [t.question or t.content for t in memory.overflow if t.role == "user"]
        summary = "Earlier questions: " + "; ".join(q[:200] for q in questions)
        if memory.summary:
            summary = f"{memory.summary}; " + "; ".join(q[:200] for q in questions)
        async with session_scope(context.store.sessionmaker) as session:
            await context.store.set_summary(session, memory.conversation_id, summary=summary[-2000:], through=through)
        return Usage()
    turns = "\n".join(_turn_line(t) for t in memory.overflow)
    reply = await context.models.runnable().ainvoke(
        [
            SystemMessage(prompts.SUMMARIZE_SYSTEM),
            HumanMessage(prompts.SUMMARIZE_USER.format(summary=memory.summary or "(none)", turns=turns)),
        ]
    )
    async with session_scope(context.store.sessionmaker) as session:
        await context.store.set_summary(
            session, memory.conversation_id, summary=str(reply.content).strip()[:4000], through=through
        )
    return _usage(reply)


def _turn_line(turn: Turn) -> str:
    return f"{'User' if turn.role == 'user' else 'Assistant'}: {turn.content[:1500]}"
