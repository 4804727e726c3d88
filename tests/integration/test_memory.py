"""The conversation store on a real PostgreSQL: what ``open_and_load`` gives the agent at the start of an answer."""

from __future__ import annotations

from agent.memory import AnswerRecord, ConversationStore
from agent.schemas import ConversationKey
from core.db import session_scope
from knowledge.service import KnowledgeBase


def key(tenant: str, thread: str = "T1") -> ConversationKey:
    return ConversationKey(tenant=tenant, platform="test", channel="C1", thread=thread)


async def exchange(store: ConversationStore, conversation_id: int, number: int) -> tuple[int, int]:
    return await store.record(
        conversation_id,
        AnswerRecord(
            question=f"question {number}",
            standalone_question=f"standalone {number}",
            answer=f"answer {number}",
            outcome="answered",
        ),
    )


async def test_a_new_conversation_opens_empty_and_keeps_its_id(kb: KnowledgeBase, tenant: str) -> None:
    store = ConversationStore(kb.sessionmaker)
    first = await store.open_and_load(key(tenant), budget_tokens=1000)
    again = await store.open_and_load(key(tenant), budget_tokens=1000)
    other = await store.open_and_load(key(tenant, thread="T2"), budget_tokens=1000)
    assert first.is_empty and first.turns == [] and first.overflow == [] and first.summary == ""
    assert again.conversation_id == first.conversation_id != other.conversation_id


async def test_the_latest_turns_within_the_budget_come_oldest_first(kb: KnowledgeBase, tenant: str) -> None:
    store = ConversationStore(kb.sessionmaker)
    conversation_id = (await store.open_and_load(key(tenant), budget_tokens=1000)).conversation_id
    ids = [await exchange(store, conversation_id, n) for n in range(1, 4)]
    memory = await store.open_and_load(key(tenant), budget_tokens=1000)
    assert [(t.role, t.content) for t in memory.turns] == [
        (role, f"{text} {n}") for n in range(1, 4) for role, text in (("user", "question"), ("assistant", "answer"))
    ]
    assert memory.turns[0].question == "standalone 1" and memory.earlier_questions[-1] == "standalone 3"
    # A budget for about two messages: the older four wait for the summary, oldest first.
    small = await store.open_and_load(key(tenant), budget_tokens=6)
    assert [t.content for t in small.turns] == ["question 3", "answer 3"]
    assert [t.id for t in small.overflow] == [ids[0][0], ids[0][1], ids[1][0], ids[1][1]]
    # Turns the summary already covers are no longer overflow.
    async with session_scope(kb.sessionmaker) as session:
        await store.set_summary(session, conversation_id, summary="Asked about 1.", through=ids[0][1])
    summarised = await store.open_and_load(key(tenant), budget_tokens=6)
    assert summarised.summary == "Asked about 1." and not summarised.is_empty
    assert [t.id for t in summarised.overflow] == [ids[1][0], ids[1][1]]


async def test_after_forget_only_newer_turns_are_remembered(kb: KnowledgeBase, tenant: str) -> None:
    store = ConversationStore(kb.sessionmaker)
    conversation_id = (await store.open_and_load(key(tenant), budget_tokens=1000)).conversation_id
    await exchange(store, conversation_id, 1)
    async with session_scope(kb.sessionmaker) as session:
        assert await store.forget(session, key(tenant))
    assert (await store.open_and_load(key(tenant), budget_tokens=1000)).is_empty
    await exchange(store, conversation_id, 2)
    memory = await store.open_and_load(key(tenant), budget_tokens=1000)
    assert [t.content for t in memory.turns] == ["question 2", "answer 2"]
