"""Prometheus metrics, served at ``GET /metrics``: every figure an operator alerts on or graphs.

Labels stay low-cardinality on purpose (platform, outcome, kind): never a tenant, channel, user or message.
Each process (``serve --role web|worker|discord``) exposes its own counters; Prometheus sums them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RETRIEVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

QUESTIONS = Counter(
    "threadwise_questions",
    "Questions answered by the agent, by platform and outcome (answered, abstained, error).",
    ["platform", "outcome"],
)
ANSWER_SECONDS = Histogram(
    "threadwise_answer_seconds",
    "Time from the question reaching the agent to its final reply.",
    ["platform"],
    buckets=LATENCY_BUCKETS,
)
RETRIEVAL_SECONDS = Histogram(
    "threadwise_retrieval_seconds",
    "Knowledge-base search time (the query embedding too, unless it was computed ahead).",
    ["mode"],
    buckets=RETRIEVAL_BUCKETS,
)
LLM_TOKENS = Counter("threadwise_llm_tokens", "Tokens the LLM read (prompt) and wrote (completion).", ["kind"])
FEEDBACK_VOTES = Counter(
    "threadwise_feedback_votes",
    "Votes on answers: up (👍), down (👎) and withdrawn, by platform.",
    ["platform", "vote"],
)
QUEUE_DEPTH = Gauge("threadwise_queue_depth", "Questions waiting in the queue or being answered (at scrape time).")
QUEUE_OLDEST_SECONDS = Gauge(
    "threadwise_queue_oldest_job_seconds", "Age of the oldest unfinished question in the queue (0 when empty)."
)
RATE_LIMITED = Counter(
    "threadwise_rate_limited",
    "Questions held back by a limit: refused (user, channel: questions a minute) or made to wait (tenant: "
    "answers at once; counted each time a question finds no free slot), by platform (slack, discord, api).",
    ["limit", "platform"],
)
SOURCE_LAST_SUCCESS = Gauge(
    "threadwise_source_last_success_timestamp_seconds",
    "When each source last synced successfully, Unix time (0: never; read at scrape time).",
    ["tenant", "source", "kind"],
)
SOURCE_SYNC_ERRORS = Counter("threadwise_source_sync_errors", "Source syncs that failed, by source kind.", ["kind"])
ERRORS = Counter(
    "threadwise_errors",
    "Failures by kind: agent steps (retrieve, answer, …), delivery, listeners, the queue.",
    ["kind"],
)


def count_error(kind: str) -> None:
    ERRORS.labels(kind=kind).inc()
