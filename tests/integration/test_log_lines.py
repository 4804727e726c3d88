"""What the logs say about a handled question: one canonical line with its figures and context, and never the
question's text or a token at INFO (captured with ``structlog.testing.capture_logs``)."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.integration.helpers.slack import answers, mention, post_event, slack, slack_app, team

__all__ = ["slack", "team"]  # fixtures used below

QUESTION = "how do I rotate the signing key for the payroll cluster?"


async def test_one_canonical_line_per_answer_and_no_text_or_tokens(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        async with slack_app(database_url_text, slack, agent={"min_similarity": 0.2}) as client:
            await post_event(client, mention(team, QUESTION))
            await answers(slack)
    (line,) = [entry for entry in logs if entry["event"] == "answer delivered"]
    assert line["platform"] == "slack" and line["tenant"] == team and line["channel"] == "C0GENERAL"
    assert line["outcome"] == "answered" and line["model"] == "extractive" and line["retrieval_hits"] >= 1
    assert line["latency_ms"] > 0 and len(line["trace_id"]) == 32
    queued = next(entry for entry in logs if entry["event"] == "slack question queued")
    assert queued["trace_id"] == line["trace_id"]  # one trace id from the listener to the delivered answer
    informative = [entry for entry in logs if entry["log_level"] != "debug"]
    for secret in (QUESTION, "payroll", BOT_TOKEN, SIGNING_SECRET):
        assert not any(secret in str(entry) for entry in informative), secret
