"""The playground page (``GET /``) and the votes it sends (``POST /api/v1/feedback``), through the real app."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.models import Feedback
from tests.integration.helpers.api import ADMIN_TOKEN, client_for, docs_tenant

__all__ = ["docs_tenant"]  # a fixture used below


async def _votes(engine: AsyncEngine, message_id: int) -> list[tuple[str, int, str | None]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(Feedback.user_id, Feedback.score, Feedback.comment).where(Feedback.message_id == message_id)
        )
        return [(row.user_id, row.score, row.comment) for row in rows]


async def _answer(client: httpx.AsyncClient, tenant: str, **headers: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/ask", json={"question": "How do I rotate the signing key?", "tenant": tenant}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["outcome"] == "answered" and body["message_id"]
    return body


async def test_the_playground_page_is_served_at_the_root(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        page = await client.get("/")
        script = await client.get("/static/playground.js")  # a file: the Content-Security-Policy runs no inline script
        schema = (await client.get("/openapi.json")).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<form" in page.text and '<script src="/static/playground.js"' in page.text
    assert "/api/v1/ask" in script.text and "/api/v1/feedback" in script.text
    assert "/" not in schema["paths"]  # a page, not part of the API


async def test_votes_are_stored_changed_commented_and_withdrawn(
    database_url_text: str, docs_tenant: str, engine: AsyncEngine
) -> None:
    async with client_for(database_url_text) as client:
        message_id = (await _answer(client, docs_tenant))["message_id"]
        vote = {"message_id": message_id, "user": "ana", "tenant": docs_tenant}

        assert (await client.post("/api/v1/feedback", json=vote | {"vote": "up"})).status_code == 204
        assert await _votes(engine, message_id) == [("ana", 1, None)]

        changed = await client.post(
            "/api/v1/feedback", json=vote | {"vote": "down", "comment": "  It should say where the console is. "}
        )
        assert changed.status_code == 204
        assert await _votes(engine, message_id) == [("ana", -1, "It should say where the console is.")]

        await client.post("/api/v1/feedback", json=vote | {"vote": "up", "user": "ben"})
        assert sorted(await _votes(engine, message_id)) == [
            ("ana", -1, "It should say where the console is."),
            ("ben", 1, None),
        ]

        assert (await client.post("/api/v1/feedback", json=vote | {"vote": "none"})).status_code == 204
        assert await _votes(engine, message_id) == [("ben", 1, None)]


async def test_feedback_refuses_what_it_cannot_vote_on(database_url_text: str, docs_tenant: str) -> None:
    async with client_for(database_url_text) as client:
        answer = await _answer(client, docs_tenant)
        other_tenant = await client.post(
            "/api/v1/feedback", json={"message_id": answer["message_id"], "vote": "up", "tenant": "someone-else"}
        )
        question_not_answer = await client.post(
            "/api/v1/feedback", json={"message_id": answer["message_id"] - 1, "vote": "up", "tenant": docs_tenant}
        )
        unknown = await client.post(
            "/api/v1/feedback", json={"message_id": 10**12, "vote": "up", "tenant": docs_tenant}
        )
        bad_vote = await client.post(
            "/api/v1/feedback", json={"message_id": answer["message_id"], "vote": "maybe", "tenant": docs_tenant}
        )
    assert other_tenant.status_code == question_not_answer.status_code == unknown.status_code == 404
    assert f"no answer {answer['message_id']}" in other_tenant.json()["detail"]
    assert bad_vote.status_code == 422


async def test_feedback_needs_the_admin_token_when_one_is_set(database_url_text: str, docs_tenant: str) -> None:
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        page = await client.get("/")
        message_id = (await _answer(client, docs_tenant, **bearer))["message_id"]
        vote = {"message_id": message_id, "vote": "up", "tenant": docs_tenant}
        anonymous = await client.post("/api/v1/feedback", json=vote)
        allowed = await client.post("/api/v1/feedback", json=vote, headers=bearer)
    assert page.status_code == 200  # the page holds no data; what it asks for does
    assert anonymous.status_code == 401 and allowed.status_code == 204


async def test_the_render_call_asks_for_the_token_and_returns_html_without_raw_markup(database_url_text: str) -> None:
    body = {"text": "Run:\n\n```bash\n$ make run\n```\n\n<script>x()</script> [x](javascript:x())", "extractive": True}
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        anonymous = await client.post("/playground/render", json=body)
        allowed = await client.post("/playground/render", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert anonymous.status_code == 401
    assert allowed.status_code == 200
    rendered = allowed.json()
    assert '<pre><code class="language-bash">$ make run\n</code></pre>' in rendered["html"]
    assert "<script" not in rendered["html"] and 'href="javascript' not in rendered["html"]
    assert rendered["note"]


async def test_the_render_call_renders_each_excerpt_and_caps_them(database_url_text: str) -> None:
    # An excerpt is cut from a document, so it may stop inside a code block.
    excerpts = ["Run **both**:\n\n```bash\n$ make run\n$ make test", "<script>x()</script> [x](javascript:x())"]
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        allowed = await client.post("/playground/render", json={"text": "ok", "excerpts": excerpts}, headers=bearer)
        too_many = await client.post("/playground/render", json={"text": "ok", "excerpts": ["x"] * 21}, headers=bearer)
        too_long = await client.post("/playground/render", json={"text": "", "excerpts": ["x" * 2001]}, headers=bearer)
    assert allowed.status_code == 200
    first, second = allowed.json()["excerpts"]
    assert "<strong>both</strong>" in first and '<code class="language-bash">$ make run\n$ make test' in first
    assert "<script" not in second and 'href="javascript' not in second
    assert too_many.status_code == 422 and too_long.status_code == 422
