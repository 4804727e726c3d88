"""Bad input to ``/api/v1/ask`` and ``/api/v1/feedback``: a 4xx problem (RFC 9457) that says what is wrong
without echoing it, never a 500, and nothing stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.web.app import create_app
from core.settings import load_settings
from tests.integration.helpers.api import ADMIN_TOKEN, client_for

PROBLEM = "application/problem+json"
TABLES = ("conversations", "messages", "feedback")

ASK_BAD: list[tuple[str, bytes, str]] = [
    ("blank question", b'{"question": "  \\n\\t "}', "question"),
    ("lone surrogate", b'{"question": "why \\ud800?"}', "question"),
    ("NUL in question", b'{"question": "why\\u0000 not?"}', "question"),
    ("blank conversation", b'{"question": "why?", "conversation_id": "   "}', "conversation_id"),
    ("NUL in conversation", b'{"question": "why?", "conversation_id": "a\\u0000"}', "conversation_id"),
    ("surrogate conversation", b'{"question": "why?", "conversation_id": "\\udfff"}', "conversation_id"),
    ("blank tenant", b'{"question": "why?", "tenant": " "}', "tenant"),
    ("NUL in tenant", b'{"question": "why?", "tenant": "t\\u0000"}', "tenant"),
    ("NUL in a collection", b'{"question": "why?", "collections": ["guide\\u0000"]}', "collections"),
    ("not JSON", b"{not json", "body"),
]
FEEDBACK_BAD: list[tuple[str, dict[str, Any] | bytes, str]] = [
    ("message_id 2^63", {"message_id": 2**63, "vote": "up"}, "message_id"),
    ("message_id 2^64", {"message_id": 2**64, "vote": "up"}, "message_id"),
    ("NUL in comment", {"message_id": 1, "vote": "down", "comment": "no\x00"}, "comment"),
    ("surrogate comment", b'{"message_id": 1, "vote": "down", "comment": "\\ud83d"}', "comment"),
    ("blank user", {"message_id": 1, "vote": "up", "user": "  "}, "user"),
    ("NUL in user", {"message_id": 1, "vote": "up", "user": "u\x00"}, "user"),
    ("NUL in tenant", {"message_id": 1, "vote": "up", "tenant": "\x00"}, "tenant"),
]


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {
            table: (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() for table in TABLES
        }


def assert_problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"]
    assert field in body["detail"]
    return body


def assert_validation_problem(response: httpx.Response, field: str) -> None:
    body = assert_problem(response, 422, field)
    assert body["errors"] and all(set(error) == {"loc", "msg"} for error in body["errors"])
    assert any(field in error["loc"] for error in body["errors"])


def post(client: httpx.AsyncClient, path: str, body: dict[str, Any] | bytes) -> Any:
    if isinstance(body, bytes):
        return client.post(path, content=body, headers={"content-type": "application/json"})
    return client.post(path, json=body)


@pytest.mark.parametrize(("case", "body", "field"), ASK_BAD, ids=[case for case, _, _ in ASK_BAD])
async def test_bad_questions_get_a_problem_and_store_nothing(
    database_url_text: str, engine: AsyncEngine, case: str, body: bytes, field: str
) -> None:
    before = await row_counts(engine)
    async with client_for(database_url_text) as client:
        response = await post(client, "/api/v1/ask", body)
    assert_validation_problem(response, field)
    assert "\\u0000" not in response.text and "\\ud" not in response.text  # the value is not echoed
    assert await row_counts(engine) == before


@pytest.mark.parametrize(("case", "body", "field"), FEEDBACK_BAD, ids=[case for case, _, _ in FEEDBACK_BAD])
async def test_bad_feedback_gets_a_problem_and_stores_nothing(
    database_url_text: str, engine: AsyncEngine, case: str, body: dict[str, Any] | bytes, field: str
) -> None:
    async with client_for(database_url_text) as client:
        asked = await client.post("/api/v1/ask", json={"question": "Is there anything here at all?"})
        message_id = asked.json()["message_id"]
        if isinstance(body, dict) and body["message_id"] == 1:
            body = body | {"message_id": message_id}  # a real answer: only the bad field is wrong
        before = await row_counts(engine)
        response = await post(client, "/api/v1/feedback", body)
    assert_validation_problem(response, field)
    assert str(2**63) not in response.text
    assert await row_counts(engine) == before


async def test_a_plain_text_body_is_a_problem_not_a_crash(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        response = await client.post("/api/v1/ask", content=b"How do I rotate?", headers={"content-type": "text/plain"})
    assert_validation_problem(response, "body")


async def test_the_largest_bigint_is_looked_up_and_not_found(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        response = await client.post("/api/v1/feedback", json={"message_id": 2**63 - 1, "vote": "up"})
    assert_problem(response, 404, str(2**63 - 1))


async def test_a_missing_token_is_a_problem_with_its_challenge(database_url_text: str) -> None:
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        response = await client.post("/api/v1/ask", json={"question": "rotate?"})
    assert_problem(response, 401, "Bearer")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_path_is_a_problem(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        response = await client.get("/api/v1/nothing-here")
    assert_problem(response, 404, "Not Found")


async def test_an_unexpected_failure_is_a_500_problem_with_a_reference_and_no_internals(database_url_text: str) -> None:
    app: FastAPI = create_app(load_settings(database={"url": database_url_text}))

    async def broken() -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py line 42")

    app.add_api_route("/api/v1/broken", broken)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)  # raises what the app lets escape: nothing should
        async with httpx.AsyncClient(transport=transport, base_url="http://threadwise.test") as client:
            response = await client.get("/api/v1/broken")
    body = assert_problem(response, 500, "reference")
    assert body["reference_id"] in body["detail"] and response.headers["x-request-id"]
    assert "hunter2" not in response.text and "RuntimeError" not in response.text


async def test_the_dashboard_refuses_what_postgresql_cannot_take(database_url_text: str) -> None:
    same_origin = {"origin": "http://threadwise.test"}
    async with client_for(database_url_text) as client:
        nul_tenant = await client.get("/admin", params={"tenant": "a\x00b"})
        huge_id = await client.post(f"/admin/answers/{2**63}/verify", headers=same_origin)
        nul_verify = await client.post("/admin/answers/1/verify", params={"tenant": "\x00"}, headers=same_origin)
    assert_validation_problem(nul_tenant, "tenant")
    assert_validation_problem(huge_id, "answer_id")
    assert_validation_problem(nul_verify, "tenant")
