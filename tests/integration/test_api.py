"""``POST /api/v1/ask`` through the real app (lifespan, agent, embedder, PostgreSQL), JSON and server-sent events."""

from __future__ import annotations

import json
from typing import Any

from agent.nodes import STREAM_EVERY_SECONDS
from tests.fakes.openai_server import Reply, scripted_llm
from tests.integration.helpers.api import ADMIN_TOKEN, client_for, docs_tenant

__all__ = ["docs_tenant"]  # a fixture used below


def parse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_ask_answers_as_json_and_remembers_the_conversation(database_url_text: str, docs_tenant: str) -> None:
    async with client_for(database_url_text) as client:
        first = await client.post(
            "/api/v1/ask", json={"question": "How do I rotate the signing key?", "tenant": docs_tenant}
        )
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["outcome"] == "answered" and body["extractive"] is True
        assert body["sources"][0]["source_uri"].endswith("guide.md") and "[1]" in body["text"]
        follow_up = await client.post(
            "/api/v1/ask",
            json={
                "question": "what about old tokens then?",
                "tenant": docs_tenant,
                "conversation_id": body["conversation"],
            },
        )
    assert follow_up.json()["standalone_question"].startswith("How do I rotate the signing key?")


async def test_ask_streams_server_sent_events(database_url_text: str, docs_tenant: str) -> None:
    answer = "Press Rotate in the admin console's Security page [1]."
    # Words further apart than the agent passes text on, so that each is an event of its own.
    with scripted_llm(Reply(answer, pause=STREAM_EVERY_SECONDS * 1.2)) as fake:
        async with client_for(database_url_text, llm={"model": "openai:primary", "base_url": fake.base_url}) as client:
            response = await client.post(
                "/api/v1/ask", json={"question": "How do I rotate the key?", "tenant": docs_tenant, "stream": True}
            )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    deltas = [data["text"] for kind, data in events if kind == "delta"]
    assert "".join(deltas) == answer and len(deltas) > 3
    kind, final = events[-1]
    assert kind == "final" and final["text"] == answer and final["model"] == "openai:primary"


async def test_ask_rejects_bad_input_with_specific_errors(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        empty = await client.post("/api/v1/ask", json={"question": ""})
        huge = await client.post("/api/v1/ask", json={"question": "x" * 5000})
        malformed = await client.post("/api/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert empty.status_code == huge.status_code == malformed.status_code == 422
    assert "question" in json.dumps(empty.json()["detail"]) and "4000" in json.dumps(huge.json()["detail"])


async def test_ask_requires_the_admin_token_when_one_is_set(database_url_text: str, docs_tenant: str) -> None:
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        anonymous = await client.post("/api/v1/ask", json={"question": "rotate?", "tenant": docs_tenant})
        wrong = await client.post("/api/v1/ask", json={"question": "rotate?"}, headers={"Authorization": "Bearer nope"})
        allowed = await client.post(
            "/api/v1/ask",
            json={"question": "How do I rotate the signing key?", "tenant": docs_tenant},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert anonymous.status_code == wrong.status_code == 401
    assert ADMIN_TOKEN not in anonymous.text
    assert allowed.status_code == 200 and allowed.json()["outcome"] == "answered"


async def test_the_api_is_documented_in_openapi(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/api/v1/ask"]["post"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert "AskResponse" in json.dumps(operation["responses"]["200"])
