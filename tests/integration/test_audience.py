"""What was learnt in a private channel is shown only in that channel: never in another channel, a DM, the API
or the command line, whatever the search mode, and also when its collection is named."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from agent.reports import overview
from agent.schemas import AnswerRequest, ConversationKey
from agent.verified import VERIFIED_COLLECTION, VerifiedAnswers
from core.db import session_scope
from knowledge.audience import channel_audience
from knowledge.collections import get_or_create_collection
from knowledge.documents import SourceDocument
from knowledge.errors import KnowledgeError
from knowledge.search import SEARCH_MODES, SearchMode
from knowledge.service import KnowledgeBase
from tests.integration.helpers.agent import close_made_agents, make_agent

__all__ = ["close_made_agents"]  # fixture used below

PRIVATE = "CPRIVATE1"
PRIVATE_COLLECTION = f"slack-history-{PRIVATE}"
SECRET = "The merger with Quillfeather closes on the ninth; the codename is Bluewing."
QUESTION = "When does the Quillfeather merger close?"


@pytest.fixture
async def learnt(kb: KnowledgeBase, tenant: str) -> str:
    """A tenant with public docs and a private channel's thread, each in its own collection."""
    async with session_scope(kb.sessionmaker) as session:
        await get_or_create_collection(
            session,
            tenant=tenant,
            name=PRIVATE_COLLECTION,
            embedder=kb.embedder,
            audience=channel_audience("slack", PRIVATE),
        )
    await kb.add_documents(
        [SourceDocument("https://example.slack.com/archives/CPRIVATE1/p1", "Merger timing", f"# Merger\n\n{SECRET}\n")],
        tenant=tenant,
        collection=PRIVATE_COLLECTION,
    )
    await kb.add_documents(
        [SourceDocument("docs/deploy.md", "Deploy", "# Deploy\n\nRun docker compose up to deploy the service.\n")],
        tenant=tenant,
        collection="docs",
    )
    return tenant


@pytest.mark.parametrize("mode", SEARCH_MODES)
async def test_a_private_channel_s_collection_is_searched_only_from_that_channel(
    kb: KnowledgeBase, learnt: str, mode: SearchMode
) -> None:
    elsewhere: list[set[str]] = [set(), {channel_audience("slack", "COTHER")}, {channel_audience("slack", "D0DM")}]
    for audiences in elsewhere:
        for named in (None, [PRIVATE_COLLECTION], [PRIVATE_COLLECTION, "docs"]):
            hits = await kb.search(QUESTION, tenant=learnt, collections=named, mode=mode, audiences=audiences)
            assert all(hit.collection != PRIVATE_COLLECTION for hit in hits), (audiences, named)
            assert all("Quillfeather" not in hit.content for hit in hits)
    inside = await kb.search(
        QUESTION,
        tenant=learnt,
        mode=mode,
        audiences={channel_audience("slack", PRIVATE)},
    )
    assert inside[0].collection == PRIVATE_COLLECTION


async def test_coverage_and_thresholds_see_only_what_the_asker_may(kb: KnowledgeBase, learnt: str) -> None:
    inside = {channel_audience("slack", PRIVATE)}
    assert await kb.unknown_words(["quillfeather"], tenant=learnt) == ["quillfeather"]
    assert await kb.unknown_words(["quillfeather"], tenant=learnt, audiences=inside) == []
    await kb.set_threshold(tenant=learnt, collection=PRIVATE_COLLECTION, mode="extractive", value=0.5)
    assert PRIVATE_COLLECTION not in await kb.thresholds(tenant=learnt, mode="extractive")
    assert PRIVATE_COLLECTION in await kb.thresholds(tenant=learnt, mode="extractive", audiences=inside)


async def test_the_agent_quotes_it_in_the_private_channel_only(kb: KnowledgeBase, learnt: str) -> None:
    agent = make_agent(kb)

    def asked_in(platform: str, channel: str) -> AnswerRequest:
        key = ConversationKey(tenant=learnt, platform=platform, channel=channel, thread="1700000000.000100")
        return AnswerRequest(question=QUESTION, conversation=key)

    inside = await agent.answer(asked_in("slack", PRIVATE))
    assert "Bluewing" in inside.text and inside.sources
    for platform, channel in (("slack", "COTHER"), ("slack", "D0DM"), ("discord", PRIVATE), ("api", "default")):
        reply = await agent.answer(asked_in(platform, channel))
        assert "Bluewing" not in reply.text and "ninth" not in reply.text, (platform, channel)
        assert all(source.collection != PRIVATE_COLLECTION for source in reply.sources)


async def test_a_collection_keeps_the_audience_it_was_made_for(kb: KnowledgeBase, learnt: str) -> None:
    async with session_scope(kb.sessionmaker) as session:
        with pytest.raises(KnowledgeError, match="shown to"):
            await get_or_create_collection(
                session, tenant=learnt, name="docs", embedder=kb.embedder, audience="slack:C1"
            )


async def test_an_answer_verified_in_the_private_channel_stays_there(kb: KnowledgeBase, learnt: str) -> None:
    agent = make_agent(kb)
    key = ConversationKey(tenant=learnt, platform="slack", channel=PRIVATE, thread="1700000000.000200")
    reply = await agent.answer(AnswerRequest(question=QUESTION, conversation=key))
    assert reply.message_id is not None and "Bluewing" in reply.text
    verified = VerifiedAnswers(kb, kb.sessionmaker)
    await verified.verify(reply.message_id, verified_by="admin", tenant=learnt)
    private_verified = f"{VERIFIED_COLLECTION}@{channel_audience('slack', PRIVATE)}"
    names = {c.name: c.audience for c in await kb.collections(tenant=learnt)}
    assert names[private_verified] == channel_audience("slack", PRIVATE) and VERIFIED_COLLECTION not in names
    for audiences in (set(), {channel_audience("slack", "COTHER")}):
        hits = await kb.search(QUESTION, tenant=learnt, audiences=audiences)
        assert all("Bluewing" not in hit.content for hit in hits)
    shown = await overview(
        kb.sessionmaker, since=datetime.now(UTC) - timedelta(hours=1), until=date.today(), tenant=learnt
    )
    assert [(question.answer_id, question.verified) for question in shown.recent] == [(reply.message_id, True)]  # the ✓
    assert await verified.unverify(reply.message_id, tenant=learnt)
