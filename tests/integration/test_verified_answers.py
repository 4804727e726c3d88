"""Verified answers: an answer an admin marks (the agent API here, ✅ in Slack, the dashboard's button) becomes
a document in the tenant's ``verified-answers`` collection, and the agent puts it first for a paraphrase.

The corpus is a small handbook written for this test (no public data set)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from agent.schemas import AnswerRequest, ConversationKey
from agent.service import AgentService
from agent.verified import NotVerifiableError, VerifiedAnswers, source_uri
from core.settings import AgentSettings, LLMSettings
from knowledge.service import KnowledgeBase
from tests.fakes.openai_server import Reply, scripted_llm
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack, event_envelope
from tests.integration.helpers.api import client_for
from tests.integration.helpers.slack import answers, mention, post_event, slack, slack_app
from tests.integration.helpers.stored import stored_answer_for, verified_documents

__all__ = ["slack"]  # a fixture used below

HANDBOOK = {
    "leave.md": "# Leave policy\n\n## Annual leave\n\nAnnual leave accrues every month and is booked in the HR "
    "portal. Managers approve leave requests within two working days. Public holidays follow the office's "
    "country calendar.\n",
    "travel.md": "# Travel\n\n## Expenses\n\nBook flights through the travel desk. Keep receipts for meals; "
    "claims are paid with the next salary.\n",
    "security.md": "# Security\n\n## Laptops\n\nLaptops are encrypted and lock after five minutes. Report a lost "
    "laptop to the service desk at once.\n",
}
QUESTION = "How many vacation days do new employees get?"
PARAPHRASE = "What is the holiday allowance for new hires?"
VERIFIED_TEXT = "New employees get 25 vacation days in their first year [1]; unused days carry over until March."


@pytest.fixture
async def handbook(kb: KnowledgeBase, tmp_path: Path) -> str:
    tenant = f"verify-{uuid.uuid4().hex[:8]}"
    for name, body in HANDBOOK.items():
        (tmp_path / name).write_text(body)
    await kb.ingest([str(tmp_path)], tenant=tenant, collection="handbook")
    return tenant


def _agent(kb: KnowledgeBase, llm: LLMSettings | None = None) -> AgentService:
    return AgentService(
        knowledge=kb, sessionmaker=kb.sessionmaker, llm=llm or LLMSettings(), settings=AgentSettings(min_similarity=0.2)
    )


async def _ask(agent: AgentService, tenant: str, question: str) -> tuple[int | None, list[str], str]:
    key = ConversationKey(tenant=tenant, platform="api", channel=uuid.uuid4().hex)
    reply = await agent.answer(AnswerRequest(question=question, conversation=key))
    return reply.message_id, [s.source_uri for s in reply.sources], reply.text


async def test_a_verified_answer_is_preferred_for_a_paraphrase(kb: KnowledgeBase, handbook: str) -> None:
    extractive = _agent(kb)
    _, before, before_text = await _ask(extractive, handbook, PARAPHRASE)
    assert before[0].endswith("leave.md") and "25" not in before_text

    with scripted_llm(Reply(VERIFIED_TEXT)) as llm:
        with_llm = _agent(kb, LLMSettings(model="openai:primary", base_url=llm.base_url))
        answer_id, _, text = await _ask(with_llm, handbook, QUESTION)
        await with_llm.aclose()
    assert answer_id is not None and "25 vacation days" in text
    verified = await VerifiedAnswers(kb, kb.sessionmaker).verify(answer_id, verified_by="test", tenant=handbook)
    assert verified.source_uri == source_uri(answer_id) and verified.question == QUESTION

    _, after, after_text = await _ask(extractive, handbook, PARAPHRASE)
    assert after[0] == source_uri(answer_id)
    assert "25 vacation days" in after_text and "[1]" in after_text
    assert extractive.context.verified_questions.cached == 1  # its question: embedded once, kept for later answers

    assert await VerifiedAnswers(kb, kb.sessionmaker).unverify(answer_id, tenant=handbook)
    _, undone, _ = await _ask(extractive, handbook, PARAPHRASE)
    assert undone[0].endswith("leave.md")


async def test_only_answers_of_the_tenant_can_be_verified(kb: KnowledgeBase, handbook: str) -> None:
    agent = _agent(kb)
    answer_id, _, _ = await _ask(agent, handbook, "What is the weather on Mars today?")  # abstained
    verified = VerifiedAnswers(kb, kb.sessionmaker)
    with pytest.raises(NotVerifiableError, match="did not answer"):
        await verified.verify(answer_id or 0, verified_by="test")
    answered_id, _, _ = await _ask(agent, handbook, QUESTION)
    with pytest.raises(NotVerifiableError, match="not an answer"):
        await verified.verify(answered_id or 0, verified_by="test", tenant="another-tenant")
    with pytest.raises(NotVerifiableError, match="not an answer"):
        await verified.verify((answered_id or 0) - 1, verified_by="test")  # the question, not the answer
    assert await verified_documents(kb, handbook) == []


async def test_an_admins_check_mark_in_slack_verifies_the_answer(
    database_url_text: str, slack: FakeSlack, kb: KnowledgeBase, handbook: str
) -> None:
    envelope = mention(handbook, QUESTION)
    async with slack_app(database_url_text, slack, agent={"min_similarity": 0.2}) as client:
        await post_event(client, envelope)
        (delivered,) = await asyncio.to_thread(slack.wait_for, "chat.postMessage")
        stored = await stored_answer_for(kb, delivered.response["ts"])
        item = {"type": "message", "channel": "C0GENERAL", "ts": delivered.response["ts"]}
        for index, user in enumerate(("U0MEMBER", "UADMIN001")):
            reaction = {"type": "reaction_added", "user": user, "reaction": "white_check_mark", "item": item}
            reaction["item_user"] = BOT_USER_ID
            await post_event(client, event_envelope(reaction, event_id=f"EvV{index}", team_id=handbook))
        confirmed = await answers(slack, 2)
        documents = await verified_documents(kb, handbook)
        removed = {"type": "reaction_removed", "user": "UADMIN001", "reaction": "white_check_mark", "item": item}
        removed["item_user"] = BOT_USER_ID
        await post_event(client, event_envelope(removed, event_id="EvV9", team_id=handbook))
        undone = await answers(slack, 3)
    assert documents == [source_uri(stored.id)]  # one: the member's ✅ is only a 👍
    assert "Saved as a verified answer" in confirmed[1]["text"]
    assert confirmed[1]["thread_ts"] == envelope["event"]["ts"]
    assert "Removed from the verified answers" in undone[2]["text"]
    assert await verified_documents(kb, handbook) == []


async def test_the_dashboard_button_verifies_from_the_dashboard_only(
    database_url_text: str, kb: KnowledgeBase, handbook: str
) -> None:
    answer_id, _, _ = await _ask(_agent(kb), handbook, QUESTION)
    async with client_for(database_url_text) as client:
        origin = {"Origin": "http://threadwise.test"}
        forged = await client.post(f"/admin/answers/{answer_id}/verify", headers={"Origin": "http://evil.test"})
        verified = await client.post(f"/admin/answers/{answer_id}/verify?tenant={handbook}&days=30", headers=origin)
        page = await client.get(f"/admin?tenant={handbook}")
        documents = await verified_documents(kb, handbook)
        undone = await client.post(f"/admin/answers/{answer_id}/unverify?tenant={handbook}", headers=origin)
        unknown = await client.post("/admin/answers/999999999999/verify", headers=origin)
    assert forged.status_code == 403
    assert verified.status_code == 303 and verified.headers["location"] == f"/admin?days=30&tenant={handbook}#recent"
    assert documents == [source_uri(answer_id or 0)]
    assert f"/admin/answers/{answer_id}/unverify" in page.text  # shown as verified, with an undo button
    assert undone.status_code == 303 and await verified_documents(kb, handbook) == []
    assert unknown.status_code == 409 and "not an answer" in unknown.json()["detail"]


async def test_verifying_again_changes_nothing(kb: KnowledgeBase, handbook: str) -> None:
    answer_id, _, _ = await _ask(_agent(kb), handbook, QUESTION)
    verified = VerifiedAnswers(kb, kb.sessionmaker)
    for admin in ("admin1", "admin2"):
        await verified.verify(answer_id or 0, verified_by=admin)
    assert await verified_documents(kb, handbook) == [source_uri(answer_id or 0)]
