"""The agent's LangGraph: load_memory → condense (follow-ups only) → retrieve → decide → answer | abstain → save
→ summarize (when turns have left the verbatim window).

Model-calling nodes retry transient failures (429, 5xx, timeouts) with backoff. When ``answer`` still fails,
its error handler hands over to ``answer_with_fallback`` (if a fallback model is configured); when that or any
other step before ``save`` fails, the run ends in ``save`` with outcome ``error`` and a reference id the user can
quote. ``summarize`` comes after the answer is saved: when it still fails, its error handler logs it and the
answer stands.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import RetryPolicy

from agent import nodes
from agent.llm import is_transient
from agent.state import AgentInput, AgentState, AnswerContext
from core.settings import LLMSettings


def llm_retry_policy(settings: LLMSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.retry_attempts,
        initial_interval=settings.retry_backoff,
        backoff_factor=2.0,
        max_interval=30.0,
        jitter=True,
        retry_on=is_transient,
    )


def build_graph(llm: LLMSettings) -> CompiledStateGraph[AgentState, AnswerContext, AgentInput, Any]:
    retry = llm_retry_policy(llm)
    builder = StateGraph(AgentState, context_schema=AnswerContext, input_schema=AgentInput)
    builder.add_node("load_memory", nodes.load_memory, error_handler=nodes.on_error)
    builder.add_node("condense", nodes.condense, retry_policy=retry, error_handler=nodes.on_error)
    builder.add_node("retrieve", nodes.retrieve, error_handler=nodes.on_error)
    builder.add_node("answer", nodes.answer, retry_policy=retry, error_handler=nodes.on_answer_error)
    builder.add_node(
        "answer_with_fallback", nodes.answer_with_fallback, retry_policy=retry, error_handler=nodes.on_error
    )
    builder.add_node("abstain", nodes.abstain)
    builder.add_node("save", nodes.save)
    builder.add_node("summarize", nodes.summarize, retry_policy=retry, error_handler=nodes.on_summary_error)
    builder.add_edge(START, "load_memory")
    builder.add_conditional_edges("load_memory", nodes.needs_condensing, ["condense", "retrieve"])
    builder.add_edge("condense", "retrieve")
    builder.add_conditional_edges("retrieve", nodes.decide, ["answer", "abstain"])
    builder.add_edge("answer", "save")
    builder.add_edge("answer_with_fallback", "save")
    builder.add_edge("abstain", "save")
    builder.add_conditional_edges("save", nodes.needs_summary, ["summarize", END])
    builder.add_edge("summarize", END)
    return builder.compile(name="threadwise-agent")
