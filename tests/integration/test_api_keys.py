"""Per-tenant API keys (``bot.access``): ``threadwise keys``, and what a key may reach beside the operator's
``ADMIN_TOKEN`` on ``/api/v1/ask``, ``/api/v1/feedback``, ``/admin`` and ``/metrics``."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from agent.memory import AnswerRecord, ConversationStore
from agent.schemas import ConversationKey
from bot.access.keys import ApiKeyStore, CreatedKey
from bot.access.principal import Scope
from bot.cli import app as cli
from bot.web.api import API_PLATFORM
from core.db import create_sessionmaker
from knowledge.service import KnowledgeBase
from tests.integration.helpers.api import ADMIN_TOKEN, client_for

OPERATOR = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ORIGIN = {"Origin": "http://threadwise.test"}
QUESTION = "How do I rotate the signing key?"


def bearer(key: CreatedKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.key}"}


def new_tenant() -> str:
    return f"keys:{uuid.uuid4().hex[:10]}"


async def make_key(engine: AsyncEngine, tenant: str, scope: Scope = "ask") -> CreatedKey:
    return await ApiKeyStore(create_sessionmaker(engine)).create(tenant=tenant, scope=scope, name="tests")


async def seed_answer(engine: AsyncEngine, tenant: str, question: str) -> int:
    """An answered question asked through the API in ``tenant``; returns the answer's message id."""
    key = ConversationKey(tenant=tenant, platform=API_PLATFORM, channel=uuid.uuid4().hex)
    store = ConversationStore(create_sessionmaker(engine))
    conversation_id = await store.open(key)
    _, answer_id = await store.record(
        conversation_id,
        AnswerRecord(question=question, standalone_question=question, answer=f"About {question}", outcome="answered"),
    )
    return answer_id


async def row_of(engine: AsyncEngine, key: CreatedKey) -> dict[str, object]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT k.*, k::text AS whole FROM api_keys k WHERE k.id = :id"), {"id": key.info.id}
            )
        ).one()
    return dict(row._mapping)


@pytest.fixture
async def guide(kb: KnowledgeBase, tmp_path: Path) -> str:
    """A tenant whose knowledge base answers ``QUESTION``."""
    tenant = new_tenant()
    (tmp_path / "guide.md").write_text(
        "# Guide\n\n## Rotate the signing key\n\nOpen the admin console, choose Security, and press Rotate. "
        "Old tokens stop working after one hour.\n"
    )
    await kb.ingest([str(tmp_path / "guide.md")], tenant=tenant, collection="guide")
    return tenant


def test_keys_are_created_listed_and_revoked_from_the_cli(
    database_url_text: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url_text)
    tenant, runner = new_tenant(), CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--tenant", tenant, "--scope", "admin", "--name", "ci bot"])
    assert created.exit_code == 0, created.output
    keys = re.findall(r"\btw_[A-Za-z0-9]{43}\b", created.stdout)
    assert len(keys) == 1 and "will not be shown again" in created.stdout
    prefix = keys[0][:11]

    listed = runner.invoke(cli, ["keys", "list", "--tenant", tenant, "--json"])
    table = runner.invoke(cli, ["keys", "list", "--tenant", tenant])
    assert listed.exit_code == 0 and table.exit_code == 0, listed.output + table.output
    [row] = json.loads(listed.stdout)
    assert (row["prefix"], row["tenant"], row["scope"], row["name"]) == (prefix, tenant, "admin", "ci bot")
    assert row["created_at"] and row["last_used_at"] is None and row["revoked_at"] is None
    assert prefix in table.stdout and keys[0] not in listed.stdout + table.stdout

    revoked = runner.invoke(cli, ["keys", "revoke", prefix])
    unknown = runner.invoke(cli, ["keys", "revoke", "tw_nosuchkey"])
    [after] = json.loads(runner.invoke(cli, ["keys", "list", "--tenant", tenant, "--json"]).stdout)
    assert revoked.exit_code == 0 and f"Revoked {prefix}" in revoked.stdout, revoked.output
    assert after["revoked_at"] is not None
    assert unknown.exit_code == 1 and "no API key" in unknown.output
    bad_scope = runner.invoke(cli, ["keys", "create", "--tenant", tenant, "--scope", "root"])
    assert bad_scope.exit_code == 2


async def test_a_key_is_stored_only_as_its_hash(engine: AsyncEngine) -> None:
    key = await make_key(engine, new_tenant())
    row = await row_of(engine, key)
    assert key.key not in str(row["whole"]) and key.key[3:] not in str(row["whole"])
    assert row["secret_hash"] == hashlib.sha256(key.key.encode()).hexdigest()
    assert row["prefix"] == key.key[3:11]


async def test_a_tenant_key_asks_in_its_own_tenant_only(
    database_url_text: str, engine: AsyncEngine, guide: str
) -> None:
    key, other = await make_key(engine, guide), new_tenant()
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        own = await client.post("/api/v1/ask", json={"question": QUESTION}, headers=bearer(key))
        named = await client.post("/api/v1/ask", json={"question": QUESTION, "tenant": guide}, headers=bearer(key))
        foreign = await client.post("/api/v1/ask", json={"question": QUESTION, "tenant": other}, headers=bearer(key))
        streamed = await client.post(
            "/api/v1/ask", json={"question": QUESTION, "tenant": other, "stream": True}, headers=bearer(key)
        )
        operator = await client.post("/api/v1/ask", json={"question": QUESTION, "tenant": other}, headers=OPERATOR)
    assert own.status_code == named.status_code == 200, own.text
    assert own.json()["outcome"] == "answered" and own.json()["sources"][0]["source_uri"].endswith("guide.md")
    assert foreign.status_code == streamed.status_code == 403
    assert guide in foreign.json()["detail"] and "not" in foreign.json()["detail"]
    assert operator.status_code == 200 and operator.json()["outcome"] == "abstained"  # the operator reaches any
    assert (await row_of(engine, key))["last_used_at"] is not None


async def test_last_use_is_written_at_most_once_a_minute(database_url_text: str, engine: AsyncEngine) -> None:
    key = await make_key(engine, new_tenant())
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        await client.post("/api/v1/feedback", json={"message_id": 1, "vote": "up"}, headers=bearer(key))
        first = (await row_of(engine, key))["last_used_at"]
        await client.post("/api/v1/feedback", json={"message_id": 1, "vote": "up"}, headers=bearer(key))
        second = (await row_of(engine, key))["last_used_at"]
    assert first is not None and second == first


async def test_a_key_votes_only_on_its_tenants_answers_under_its_own_user_names(
    database_url_text: str, engine: AsyncEngine
) -> None:
    mine, theirs = new_tenant(), new_tenant()
    key = await make_key(engine, mine)
    my_answer, their_answer = await seed_answer(engine, mine, QUESTION), await seed_answer(engine, theirs, QUESTION)
    vote = {"vote": "down", "user": "U_ADMIN", "comment": "wrong"}
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        theirs_omitted = await client.post(
            "/api/v1/feedback", json={"message_id": their_answer, **vote}, headers=bearer(key)
        )
        theirs_named = await client.post(
            "/api/v1/feedback", json={"message_id": their_answer, "tenant": theirs, **vote}, headers=bearer(key)
        )
        own = await client.post("/api/v1/feedback", json={"message_id": my_answer, **vote}, headers=bearer(key))
        operator = await client.post(
            "/api/v1/feedback", json={"message_id": their_answer, "tenant": theirs, **vote}, headers=OPERATOR
        )
    assert theirs_omitted.status_code == 404 and theirs_named.status_code == 403
    assert own.status_code == operator.status_code == 204
    async with engine.connect() as connection:
        votes = (
            await connection.execute(
                text("SELECT message_id, user_id FROM feedback WHERE message_id IN (:a, :b) ORDER BY id"),
                {"a": my_answer, "b": their_answer},
            )
        ).all()
    assert [tuple(v) for v in votes] == [(my_answer, f"key:{key.info.prefix}:U_ADMIN"), (their_answer, "U_ADMIN")]


async def test_revoked_and_unknown_keys_are_refused(database_url_text: str, engine: AsyncEngine) -> None:
    tenant = new_tenant()
    key = await make_key(engine, tenant)
    await ApiKeyStore(create_sessionmaker(engine)).revoke(key.info.shown_prefix)
    forged = "tw_" + key.key[3:11] + "x" * 35  # the right prefix, the wrong secret
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        revoked = await client.post("/api/v1/ask", json={"question": QUESTION}, headers=bearer(key))
        wrong = await client.post(
            "/api/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {forged}"}
        )
    assert revoked.status_code == wrong.status_code == 401
    assert "revoked" in revoked.json()["detail"]


async def test_without_admin_token_a_key_still_holds_to_its_tenant(database_url_text: str, engine: AsyncEngine) -> None:
    key = await make_key(engine, new_tenant())
    other = new_tenant()
    async with client_for(database_url_text) as client:
        anonymous = await client.post("/api/v1/ask", json={"question": QUESTION, "tenant": other})
        with_key = await client.post("/api/v1/ask", json={"question": QUESTION, "tenant": other}, headers=bearer(key))
    assert anonymous.status_code == 200 and with_key.status_code == 403


async def test_the_dashboard_shows_an_admin_key_its_tenant_only(database_url_text: str, engine: AsyncEngine) -> None:
    mine, theirs = new_tenant(), new_tenant()
    admin, asker = await make_key(engine, mine, "admin"), await make_key(engine, mine, "ask")
    my_answer = await seed_answer(engine, mine, "Where is my tenant's handbook?")
    their_answer = await seed_answer(engine, theirs, "What is the other tenant's secret plan?")
    login = ("admin", admin.key)
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        page = await client.get("/admin?days=7", auth=login)
        foreign_page = await client.get(f"/admin?tenant={theirs}", auth=login)
        ask_scope = await client.get("/admin", auth=("admin", asker.key))
        foreign_verify = await client.post(f"/admin/answers/{their_answer}/verify", auth=login, headers=ORIGIN)
        foreign_named = await client.post(
            f"/admin/answers/{their_answer}/verify?tenant={theirs}", auth=login, headers=ORIGIN
        )
        own_verify = await client.post(f"/admin/answers/{my_answer}/verify", auth=login, headers=ORIGIN)
        verified_page = await client.get("/admin", auth=login)
        metrics = await client.get("/metrics", headers=bearer(admin))
        api_docs = await client.get("/docs", auth=login)
        schema = await client.get("/openapi.json", headers=bearer(admin))
        operator_page = await client.get(f"/admin?tenant={theirs}", headers=OPERATOR)
    assert page.status_code == 200
    assert "Where is my tenant&#39;s handbook?" in page.text and "secret plan" not in page.text
    assert foreign_page.status_code == 403 and ask_scope.status_code == 403
    assert foreign_verify.status_code == 404 and foreign_named.status_code == 403
    assert f"/admin/answers/{their_answer}/unverify" not in operator_page.text  # still not verified
    assert own_verify.status_code == 303 and f"/admin/answers/{my_answer}/unverify" in verified_page.text
    assert metrics.status_code == api_docs.status_code == schema.status_code == 403  # the operator's only
    assert operator_page.status_code == 200 and "secret plan" in operator_page.text
