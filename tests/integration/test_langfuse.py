"""Langfuse against a fake server on 127.0.0.1, through the real app: each answer is one trace in its
conversation's session, a 👎 is a score on that answer's trace (deleted when the vote is taken back), an
unreachable Langfuse breaks nothing, and with no keys set nothing is sent at all."""

from __future__ import annotations

import asyncio
import base64
import uuid

from langfuse import Langfuse

from core.langfuse import SCORE_NAME, langfuse_trace_id
from tests.fakes.langfuse_api import SCORES_PATH, TRACES_PATH, fake_langfuse
from tests.fakes.openai_server import Reply, scripted_llm
from tests.integration.helpers.api import client_for, docs_tenant

__all__ = ["docs_tenant"]  # fixture used below

SECRET_KEY = "sk-lf-0123456789abcdef"  # made up; sent only to the fake
ANSWER = "Open the admin console, choose Security and press Rotate [1]."


def _keys() -> dict[str, str]:
    # A public key of its own per test: the SDK keeps one client per key for the whole process.
    return {"public_key": f"pk-lf-{uuid.uuid4().hex[:12]}", "secret_key": SECRET_KEY}


async def test_answers_are_traces_in_the_conversation_session_and_a_vote_is_a_score(
    database_url_text: str, docs_tenant: str
) -> None:
    keys = _keys()
    with fake_langfuse() as langfuse, scripted_llm(default=Reply(ANSWER)) as llm:
        async with client_for(
            database_url_text,
            llm={"model": "openai:primary", "base_url": llm.base_url},
            langfuse={**keys, "host": langfuse.host},
        ) as client:
            replies = []
            for question in ("How do I rotate the signing key?", "and what happens to old tokens?"):
                response = await client.post(
                    "/api/v1/ask", json={"question": question, "tenant": docs_tenant, "conversation_id": "c-7"}
                )
                assert response.status_code == 200, response.text
                replies.append(response.json())
            vote = await client.post(
                "/api/v1/feedback",
                json={
                    "message_id": replies[1]["message_id"],
                    "vote": "down",
                    "comment": "It missed the grace period.",
                    "tenant": docs_tenant,
                    "user": "U42",
                },
            )
            assert vote.status_code == 204, vote.text
        # The app's shutdown flushed everything; the fake may still be storing the last request.
        await asyncio.to_thread(langfuse.wait_for, lambda f: len(f.traces()) >= 2 and len(f.scores) >= 1)

    expected = [langfuse_trace_id(reply["trace_id"]) for reply in replies]
    assert expected == [reply["trace_id"] for reply in replies]  # ours are valid Langfuse ids as they are
    traces = langfuse.traces()
    assert sorted(traces) == sorted(expected)
    session = f"{docs_tenant}/api/c-7"
    for trace_id in expected:
        spans = traces[trace_id]
        # The root's parent is the remote span Langfuse starts a trace of a given id under, not one of ours.
        ids = {span.span_id for span in spans}
        (root,) = [span for span in spans if span.parent_span_id not in ids]
        assert root.attributes["session.id"] == session
        assert root.attributes["langfuse.trace.name"] == "answer"
        # The model call is a generation inside the answer's trace.
        assert any(span.attributes.get("langfuse.observation.type") == "generation" for span in spans)
        # Every LLM call carries our trace id in its run metadata (Langfuse or not).
        generations = [span for span in spans if span.attributes.get("langfuse.observation.type") == "generation"]
        assert all(span.attributes["langfuse.observation.metadata.trace_id"] == f'"{trace_id}"' for span in generations)

    (score,) = langfuse.scores
    assert score["traceId"] == expected[1] and score["name"] == SCORE_NAME
    assert score["value"] == -1 and score["dataType"] == "NUMERIC"
    assert score["comment"] == "It missed the grace period."
    assert {path for _, path in langfuse.requests} == {TRACES_PATH, SCORES_PATH}
    expected_auth = "Basic " + base64.b64encode(f"{keys['public_key']}:{SECRET_KEY}".encode()).decode()
    assert set(langfuse.auth) == {expected_auth}


async def test_taking_a_vote_back_deletes_its_score(database_url_text: str, docs_tenant: str) -> None:
    with fake_langfuse() as langfuse:
        async with client_for(database_url_text, langfuse={**_keys(), "host": langfuse.host}) as client:
            reply = (
                await client.post(
                    "/api/v1/ask", json={"question": "How do I rotate the signing key?", "tenant": docs_tenant}
                )
            ).json()
            for vote in ("up", "none"):
                response = await client.post(
                    "/api/v1/feedback", json={"message_id": reply["message_id"], "vote": vote, "tenant": docs_tenant}
                )
                assert response.status_code == 204, response.text
        await asyncio.to_thread(langfuse.wait_for, lambda f: bool(f.scores and f.deleted_scores))
    (score,) = langfuse.scores
    assert score["traceId"] == reply["trace_id"] and score["value"] == 1
    assert langfuse.deleted_scores == [score["id"]]
    score_requests = [method for method, path in langfuse.requests if path.startswith(SCORES_PATH)]
    assert score_requests == ["POST", "DELETE"]  # the delete comes after the score it deletes


async def test_without_keys_nothing_is_sent(database_url_text: str, docs_tenant: str) -> None:
    with fake_langfuse() as langfuse:
        # The host alone turns nothing on: both keys are needed.
        async with client_for(database_url_text, langfuse={"host": langfuse.host}) as client:
            reply = (
                await client.post(
                    "/api/v1/ask", json={"question": "How do I rotate the signing key?", "tenant": docs_tenant}
                )
            ).json()
            vote = await client.post(
                "/api/v1/feedback", json={"message_id": reply["message_id"], "vote": "down", "tenant": docs_tenant}
            )
            assert vote.status_code == 204
        await asyncio.sleep(0.3)  # anything sent would have arrived by now
    assert langfuse.requests == []


def test_a_trace_id_that_is_not_a_langfuse_one_is_derived_from_it() -> None:
    derived = langfuse_trace_id("slack-1700000000.000100")
    assert derived == langfuse_trace_id("slack-1700000000.000100") and len(derived) == 32
    assert int(derived, 16) and derived != langfuse_trace_id("slack-1700000000.000200")
    assert langfuse_trace_id("0" * 32) != "0" * 32
    assert derived == Langfuse.create_trace_id(seed="slack-1700000000.000100")  # the SDK's own derivation


async def test_an_unreachable_langfuse_breaks_neither_answers_nor_votes(
    database_url_text: str, docs_tenant: str
) -> None:
    with fake_langfuse() as langfuse:
        host = langfuse.host  # nothing listens here once the fake is gone
    async with client_for(database_url_text, langfuse={**_keys(), "host": host}) as client:
        reply = await client.post(
            "/api/v1/ask", json={"question": "How do I rotate the signing key?", "tenant": docs_tenant}
        )
        assert reply.status_code == 200 and reply.json()["outcome"] == "answered"
        for vote in ("down", "none"):
            response = await client.post(
                "/api/v1/feedback", json={"message_id": reply.json()["message_id"], "vote": vote, "tenant": docs_tenant}
            )
            assert response.status_code == 204, response.text
