"""A client that disconnects from ``POST /api/v1/ask``'s event stream mid-answer: the app served by a real uvicorn
(so the disconnect is a closed socket), a real PostgreSQL, and a scripted model that writes slowly."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from agent.memory import ConversationStore, Memory
from agent.schemas import ConversationKey
from bot.web.api import API_PLATFORM
from bot.web.app import create_app
from core.settings import load_settings
from knowledge.service import KnowledgeBase
from tests.fakes.openai_server import Reply, scripted_llm
from tests.integration.live_server import serving

ANSWER = "Press Rotate in the admin console's Security page, then wait an hour for old tokens to stop [1]."


async def turns_stored(kb: KnowledgeBase, key: ConversationKey, *, count: int, seconds: float = 20.0) -> Memory:
    """The conversation's memory once it holds ``count`` turns, through the agent's own store."""
    store = ConversationStore(kb.sessionmaker)
    for _ in range(round(seconds / 0.1)):
        memory = await store.open_and_load(key, budget_tokens=10_000)
        if len(memory.turns) >= count:
            return memory
        await asyncio.sleep(0.1)
    raise AssertionError(f"the conversation holds {len(memory.turns)} turns, not {count}")


async def test_a_client_that_disconnects_mid_answer_still_leaves_the_turn_for_its_follow_up(
    database_url_text: str, kb: KnowledgeBase, tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "guide.md").write_text(
        "# Guide\n\n## Rotate the signing key\n\nOpen the admin console, choose Security, and press Rotate. "
        "Old tokens stop working after one hour.\n"
    )
    await kb.ingest([str(tmp_path / "guide.md")], tenant=tenant, collection="guide")
    conversation = uuid.uuid4().hex
    key = ConversationKey(tenant=tenant, platform=API_PLATFORM, channel=conversation)
    ask = {"question": "How do I rotate the signing key?", "tenant": tenant, "conversation_id": conversation}

    # A word every 0.3 s: the client is long gone when the model finishes.
    with scripted_llm(Reply(ANSWER, pause=0.3), Reply("Old tokens keep working for an hour [1].")) as llm:
        settings = load_settings(
            database={"url": database_url_text},
            agent={"min_similarity": 0.25},
            llm={"model": "openai:primary", "base_url": llm.base_url},
        )
        async with serving(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            async with client.stream("POST", "/api/v1/ask", json=ask | {"stream": True}) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line == "event: delta":
                        break  # the first piece of the answer arrived: the client leaves
            memory = await turns_stored(kb, key, count=2)
            assert [(turn.role, turn.content) for turn in memory.turns] == [
                ("user", "How do I rotate the signing key?"),
                ("assistant", ANSWER),
            ]

            follow_up = await client.post("/api/v1/ask", json=ask | {"question": "and the old tokens?"})
            assert follow_up.status_code == 200, follow_up.text

        # The follow-up's model calls saw the first exchange (the condensing and the answer's history).
        assert any(ANSWER in str(request.messages) for request in llm.chat_requests[1:])


async def test_an_answer_whose_client_left_keeps_its_tenant_slot_until_it_is_stored(
    database_url_text: str, kb: KnowledgeBase, tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\nOpen the admin console, choose Security, and press Rotate.\n")
    await kb.ingest([str(tmp_path / "guide.md")], tenant=tenant, collection="guide")
    conversation = uuid.uuid4().hex
    key = ConversationKey(tenant=tenant, platform=API_PLATFORM, channel=conversation)
    ask = {"question": "How do I rotate the signing key?", "tenant": tenant, "conversation_id": conversation}

    with scripted_llm(Reply(ANSWER, pause=0.3), default=Reply("Press Rotate [1].")) as llm:
        settings = load_settings(
            database={"url": database_url_text},
            agent={"min_similarity": 0.25},
            llm={"model": "openai:primary", "base_url": llm.base_url},
            limits={"tenant_concurrent": 1},
        )
        async with serving(create_app(settings)) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            async with client.stream("POST", "/api/v1/ask", json=ask | {"stream": True}) as response:
                async for line in response.aiter_lines():
                    if line == "event: delta":
                        break
            # The client left, the answer goes on: the tenant's one slot is still taken.
            busy = await client.post("/api/v1/ask", json=ask | {"question": "and the old tokens?"})
            assert busy.status_code == 429, busy.text
            assert int(busy.headers["Retry-After"]) >= 1

            await turns_stored(kb, key, count=2)
            for _ in range(50):  # the slot is given back once the answer's task has ended
                after = await client.post("/api/v1/ask", json=ask | {"question": "and the old tokens?"})
                if after.status_code != 429:
                    break
                await asyncio.sleep(0.1)
            assert after.status_code == 200, after.text
