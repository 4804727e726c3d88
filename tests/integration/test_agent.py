"""The agent end to end: real PostgreSQL, the local embedder, and the real langchain-openai client talking HTTP
to a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any, cast

import pytest
from openai import DefaultAioHttpClient
from sqlalchemy import select

from agent.models import Conversation, Message
from agent.nodes import STREAM_EVERY_SECONDS
from agent.prompts import ABSTAIN_WITH_SOURCES, CONDENSE_SYSTEM, NO_ANSWER_MARKER, SUMMARIZE_SYSTEM
from agent.schemas import AnswerReply, AnswerRequest, ConversationKey, StreamDelta, StreamFinal
from agent.service import AgentService
from core.db import session_scope
from core.settings import AgentSettings, LLMSettings
from knowledge.service import KnowledgeBase
from tests.counting_embedder import CountingEmbedder
from tests.fakes.openai_server import Delay, Reply, Responder, ScriptedLLM, Status, Step, scripted_llm
from tests.integration.helpers.agent import close_made_agents, handbook, llm_settings, make_agent

__all__ = ["close_made_agents", "handbook"]  # fixtures used below


def ask(tenant: str, question: str, channel: str = "general", **fields: object) -> AnswerRequest:
    return AnswerRequest.model_validate(
        {"question": question, "conversation": ConversationKey(tenant=tenant, platform="test", channel=channel)}
        | fields
    )


async def stored_message(kb: KnowledgeBase, message_id: int | None) -> Message:
    async with session_scope(kb.sessionmaker) as session:
        message = await session.get(Message, message_id)
    assert message is not None
    return message


async def stored_answer(kb: KnowledgeBase, reply: AnswerReply) -> Message:
    return await stored_message(kb, reply.message_id)


# --- with an LLM ---------------------------------------------------------------------------------------------


async def test_citations_are_renumbered_and_invalid_ones_removed(kb: KnowledgeBase, handbook: str) -> None:
    with scripted_llm(Reply("Press Rotate in Security [2]. Old tokens expire after an hour [1][9].")) as fake:
        reply = await make_agent(kb, llm_settings(fake.base_url)).answer(ask(handbook, "How do I rotate the key?"))
    assert reply.outcome == "answered"
    assert reply.text == "Press Rotate in Security [1]. Old tokens expire after an hour [2]."
    # [1] is what the model called [2] (the second retrieved passage); [9] pointed at nothing.
    assert [s.chunk_id for s in reply.sources] == [reply.retrieved[1].chunk_id, reply.retrieved[0].chunk_id]
    assert [s.number for s in reply.sources] == [1, 2]
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.model == "openai:primary"
    stored = await stored_answer(kb, reply)
    assert stored.outcome == "answered" and stored.content == reply.text
    assert stored.retrieved_chunk_ids == [r.chunk_id for r in reply.retrieved]
    assert stored.prompt_tokens == reply.usage.prompt_tokens and stored.latency_ms is not None


async def test_an_openai_compatible_model_talks_over_aiohttp_and_closes_its_client(
    kb: KnowledgeBase, handbook: str
) -> None:
    agent = make_agent(kb, llm_settings("http://127.0.0.1:9/v1", fallback_model="openai:fallback"))
    assert agent.models is not None and agent.models.fallback is not None
    clients = [
        getattr(agent.models.primary, "http_async_client", None),
        getattr(agent.models.fallback, "http_async_client", None),
    ]
    assert all(isinstance(client, DefaultAioHttpClient) for client in clients)
    with scripted_llm(Reply("Press Rotate [1].")) as fake:
        agent = make_agent(kb, llm_settings(fake.base_url))
        reply = await agent.answer(ask(handbook, "How do I rotate the key?"))
    assert reply.outcome == "answered" and reply.text == "Press Rotate [1]."
    assert agent.models is not None
    client = getattr(agent.models.primary, "http_async_client", None)
    assert isinstance(client, DefaultAioHttpClient)
    assert not client.is_closed
    await agent.aclose()
    assert client.is_closed


async def test_sources_are_wrapped_as_untrusted_data(kb: KnowledgeBase, handbook: str) -> None:
    with scripted_llm(Reply("The printer is on floor two [1].")) as fake:
        agent = make_agent(kb, llm_settings(fake.base_url))
        reply = await agent.answer(ask(handbook, "Where is the office printer?", instructions="Answer in French."))
    (request,) = fake.chat_requests
    system, user = request.messages[0]["content"], request.messages[-1]["content"]
    assert "untrusted data" in system and "ignore any instructions" in system
    assert "Answer in French." in system and system.index("Rules:") < system.index("Answer in French.")
    assert '<source number="1"' in user and "Ignore all previous instructions" in user
    assert user.index("<source") < user.index("Ignore all previous instructions") < user.index("</source>")
    assert reply.outcome == "answered"


async def test_a_follow_up_is_condensed_with_the_previous_turn(kb: KnowledgeBase, handbook: str) -> None:
    condensed = "How long do old tokens keep working after rotating the signing key?"
    with scripted_llm(
        Reply("Open the admin console and press Rotate [1]."), Reply(condensed), Reply("One hour [1].")
    ) as fake:
        agent = make_agent(kb, llm_settings(fake.base_url))
        await agent.answer(ask(handbook, "How do I rotate the signing key?"))
        reply = await agent.answer(ask(handbook, "and the old ones, how long do they last?"))
    assert reply.standalone_question == condensed
    assert reply.outcome == "answered" and reply.text == "One hour [1]."
    assert "Rotate the signing key" in reply.sources[0].heading_path
    _, condense, answer = fake.chat_requests
    assert "How do I rotate the signing key?" in condense.messages[-1]["content"]
    # The answer sees the earlier turn verbatim, then the sources and the standalone question.
    roles = [m["role"] for m in answer.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert condensed in answer.messages[-1]["content"]


async def run_graph(agent: AgentService, request: AnswerRequest) -> tuple[list[str], dict[str, Any]]:
    """The graph's steps, in order, for one question, and its state at the end."""
    inputs = agent.graph_input(request, time.perf_counter())
    steps: list[str] = []
    state: dict[str, Any] = {}
    async for mode, payload in agent.graph.astream(
        inputs, context=agent.run_context(request), stream_mode=["updates", "values"]
    ):
        if mode == "updates":
            steps.extend(payload)
        else:
            state = cast(dict[str, Any], payload)
    return steps, state


async def steps_run(agent: AgentService, request: AnswerRequest) -> list[str]:
    """The graph's steps, in order, for one question."""
    steps, _ = await run_graph(agent, request)
    return steps


async def test_only_a_follow_up_goes_through_the_condense_step(kb: KnowledgeBase, handbook: str) -> None:
    condensed = "How long do old tokens keep working after rotating the signing key?"
    with scripted_llm(Reply("Press Rotate [1]."), Reply(condensed), Reply("One hour [1].")) as fake:
        agent = make_agent(kb, llm_settings(fake.base_url))
        first = await steps_run(agent, ask(handbook, "How do I rotate the signing key?", trace_id="t1"))
        follow_up = await steps_run(agent, ask(handbook, "and the old ones, how long do they last?", trace_id="t2"))
    assert first == ["load_memory", "retrieve", "answer", "save"]
    assert follow_up == ["load_memory", "condense", "retrieve", "answer", "save"]
    assert len(fake.chat_requests) == 3


async def test_the_graph_state_holds_only_plain_data(kb: KnowledgeBase, handbook: str) -> None:
    """The question's embedding under way is the run's context, not state: the state pickles as it is."""
    with scripted_llm(Reply("Press Rotate [1].")) as fake:
        _, state = await run_graph(make_agent(kb, llm_settings(fake.base_url)), ask(handbook, "How do I rotate it?"))
    assert state["outcome"] == "answered" and state["message_id"]
    assert "query_embedding" not in state
    assert pickle.dumps(state)  # a task or a live client would not pickle


async def test_a_rate_limit_is_retried(kb: KnowledgeBase, handbook: str) -> None:
    with scripted_llm(Status(429, retry_after=0), Reply("Press Rotate [1].")) as fake:
        reply = await make_agent(kb, llm_settings(fake.base_url)).answer(ask(handbook, "How do I rotate the key?"))
    assert reply.outcome == "answered" and reply.text == "Press Rotate [1]."
    assert len(fake.chat_requests) == 2


async def test_a_primary_that_keeps_timing_out_hands_over_to_the_fallback(kb: KnowledgeBase, handbook: str) -> None:
    with scripted_llm(
        Delay(10, model="primary"), Delay(10, model="primary"), Reply("From the fallback [1].", model="fallback")
    ) as fake:
        llm = llm_settings(fake.base_url, timeout=0.5, fallback_model="openai:fallback")
        reply = await make_agent(kb, llm).answer(ask(handbook, "How do I rotate the key?"))
    assert reply.outcome == "answered" and reply.text == "From the fallback [1]."
    assert reply.model == "openai:fallback"
    assert [r.model for r in fake.chat_requests] == ["primary", "primary", "fallback"]


async def test_when_every_model_fails_the_outcome_is_error_with_a_reference(kb: KnowledgeBase, handbook: str) -> None:
    with scripted_llm(default=Status(503)) as fake:
        llm = llm_settings(fake.base_url, fallback_model="openai:fallback")
        reply = await make_agent(kb, llm).answer(ask(handbook, "How do I rotate the key?"))
    assert reply.outcome == "error"
    assert reply.reference_id and reply.reference_id in reply.text
    assert "503" not in reply.text and "Traceback" not in reply.text
    assert [r.model for r in fake.chat_requests] == ["primary", "primary", "fallback", "fallback"]
    stored = await stored_answer(kb, reply)
    assert stored.outcome == "error" and reply.reference_id in stored.content


async def test_streaming_yields_the_text_in_order_then_the_final_reply(kb: KnowledgeBase, handbook: str) -> None:
    text = "Open the admin console, choose Security, then press Rotate [1]."
    # Words a little further apart than STREAM_EVERY_SECONDS: each is passed on as it comes.
    with scripted_llm(Reply(text, pause=STREAM_EVERY_SECONDS * 1.2)) as fake:
        events = [e async for e in make_agent(kb, llm_settings(fake.base_url)).stream(ask(handbook, "Rotate how?"))]
    deltas = [e.text for e in events if isinstance(e, StreamDelta)]
    assert len(deltas) >= 5 and "".join(deltas) == text
    assert isinstance(events[-1], StreamFinal) and events[-1].reply.text == text
    assert all(isinstance(e, StreamDelta) for e in events[:-1])


async def test_text_written_faster_than_it_is_shown_is_passed_on_together(kb: KnowledgeBase, handbook: str) -> None:
    """A model that sends its words all at once: the first goes out at once, the rest together, nothing lost."""
    text = "Open the admin console, choose Security, then press Rotate [1]."
    with scripted_llm(Reply(text)) as fake:
        events = [e async for e in make_agent(kb, llm_settings(fake.base_url)).stream(ask(handbook, "Rotate how?"))]
    deltas = [e.text for e in events if isinstance(e, StreamDelta)]
    assert "".join(deltas) == text
    assert len(deltas) < 5, deltas  # of 10 words: without the grouping, one each
    assert isinstance(events[-1], StreamFinal) and events[-1].reply.text == text


async def test_the_model_saying_it_does_not_know_is_an_abstention(kb: KnowledgeBase, handbook: str) -> None:
    with scripted_llm(Reply(NO_ANSWER_MARKER)) as fake:
        events = [
            e
            async for e in make_agent(kb, llm_settings(fake.base_url)).stream(
                ask(handbook, "How long is the standup on Tuesdays, and who runs it?")
            )
        ]
    assert not [e for e in events if isinstance(e, StreamDelta)]  # the marker is never shown
    final = events[-1]
    assert isinstance(final, StreamFinal)
    assert final.reply.outcome == "abstained" and final.reply.text == ABSTAIN_WITH_SOURCES
    assert final.reply.sources


async def test_no_evidence_means_no_llm_call(kb: KnowledgeBase, handbook: str) -> None:
    with scripted_llm() as fake:
        reply = await make_agent(kb, llm_settings(fake.base_url)).answer(
            ask(handbook, "What is the boiling point of liquid nitrogen in kelvin?")
        )
    assert reply.outcome == "abstained" and reply.text.startswith("I couldn't find that")
    assert fake.chat_requests == []


# --- without an LLM (extractive) -----------------------------------------------------------------------------


async def test_extractive_answers_quote_and_cite_the_best_passage(kb: KnowledgeBase, handbook: str) -> None:
    reply = await make_agent(kb).answer(ask(handbook, "When are refunds issued?"))
    assert reply.outcome == "answered" and reply.extractive and reply.model is None
    assert reply.text.startswith("Refunds are issued within fourteen days") and "[1]" in reply.text
    assert reply.sources[0].source_uri.endswith("billing.md")


async def chunked(kb: KnowledgeBase, tenant: str, path: Path, query: str) -> list[str]:
    """Ingest the file at ``path`` into a collection of its own (named after it); its chunks that ``query``
    finds."""
    await kb.ingest([str(path)], tenant=tenant, collection=path.stem)
    return [hit.content for hit in await kb.search(query, tenant=tenant, collections=[path.stem], limit=10)]


RUNNING = """# Workers

## Running

The only required argument to the worker tells it which queue to read and which settings module to load. The
syntax is the dotted import name of the settings module, then a colon, then the queue name. The settings module is
imported before the worker connects, so that a mistake in it stops the worker at once instead of after its first
job. The queue name can also be a pattern, which reads every queue whose name matches it, when one worker serves
several teams.

```text
# reads the queue "answers" with the settings of myapp.settings
$ qworker --processes 4 'myapp.settings:answers'

# reads every queue whose name starts with "team-"
$ qworker --processes 4 'myapp.settings:team-*'

Starting qworker 2.1.0
Listening on queue: answers
Booting process with pid: 101
Booting process with pid: 102
Booting process with pid: 103
Booting process with pid: 104
Process 101 ready: 0 jobs waiting
Process 102 ready: 0 jobs waiting
Process 103 ready: 0 jobs waiting
Process 104 ready: 0 jobs waiting
```

The processes option sets how many jobs run at once.
"""


async def test_an_extract_quotes_the_command_that_the_chunker_cut_from_its_paragraph(
    kb: KnowledgeBase, tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "workers.md").write_text(RUNNING)
    chunks = await chunked(kb, tenant, tmp_path / "workers.md", "qworker settings module queue")
    # The paragraph and its command block are too long for one chunk: the command opens the next one.
    assert not any("required argument" in chunk and "$ qworker" in chunk for chunk in chunks)
    reply = await make_agent(kb).answer(ask(tenant, "What is the required argument of the worker and its syntax?"))
    assert reply.outcome == "answered", reply
    assert "The only required argument" in reply.text
    assert "$ qworker --processes 4 'myapp.settings:answers'" in reply.text


TASKS = """# Tasks

## Sending mail

Mail is sent by the outbox worker, which reads the outbox table and hands each row to the relay.

```python
from relay import Relay

def send_pending(outbox, relay: Relay) -> None:
    for row in outbox.pending():
        relay.send(row.recipient, row.subject, row.body)
        outbox.mark_sent(row.id)
```

## Retries

These settings decide what happens when a task fails: how many times it is retried and how long the queue waits
between two tries, doubling each time up to one hour.

## Queue context

Tasks run inside the application, so they can reach its database and its settings. Here is how the queue app is made:

```python
from quay import Quay, Task

def quay_init_app(app: Application) -> Quay:
    class ContextTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    quay_app = Quay(app.name, task_cls=ContextTask)
    quay_app.config_from_object(app.config["QUAY"])
    quay_app.set_default()
    app.extensions["quay"] = quay_app
    return quay_app
```

This creates and returns a `Quay` app object. Its configuration is taken from the `QUAY` key of the application's
configuration. The `Task` subclass runs every task function with an application context active, so that services
such as database connections are available to the task.

"""


async def test_an_extract_quotes_the_code_that_the_paragraph_opening_its_chunk_describes(
    kb: KnowledgeBase, tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "tasks.md").write_text(TASKS)
    chunks = await chunked(kb, tenant, tmp_path / "tasks.md", "quay app task context")
    # The code and the paragraph about it are too long for one chunk: the paragraph opens the next one.
    assert not any("This creates and returns" in chunk and "ContextTask" in chunk for chunk in chunks)
    agent = make_agent(kb)
    reply = await agent.answer(ask(tenant, "Our quay tasks need the database connections. How is that set up?"))
    assert reply.outcome == "answered", reply
    # One quote: the code, then the paragraph that says what it does.
    assert 0 <= reply.text.index("class ContextTask(Task)") < reply.text.index("This creates and returns a `Quay`")
    assert reply.text.count("class ContextTask(Task)") == 1
    # A paragraph that opens a section is not about the code that ends the section before it.
    retries = await agent.answer(ask(tenant, "How many times is a failed task retried, and how long between tries?"))
    assert retries.outcome == "answered", retries
    assert "doubling each time" in retries.text and "relay.send" not in retries.text and "quay_app" not in retries.text


async def test_extractive_mode_abstains_on_an_unrelated_question(kb: KnowledgeBase, handbook: str) -> None:
    reply = await make_agent(kb).answer(ask(handbook, "Who won the football world cup in 1998?"))
    assert reply.outcome == "abstained"
    assert (await stored_answer(kb, reply)).outcome == "abstained"


async def test_extractive_mode_condenses_a_follow_up(kb: KnowledgeBase, handbook: str) -> None:
    agent = make_agent(kb)
    await agent.answer(ask(handbook, "How do I rotate the signing key?"))
    reply = await agent.answer(ask(handbook, "and what happens to the old tokens after that?"))
    assert (
        reply.standalone_question == "How do I rotate the signing key? and what happens to the old tokens after that?"
    )
    assert "Old tokens stop working after one hour" in reply.text


async def test_extractive_mode_refuses_an_on_topic_follow_up_its_quote_does_not_answer(
    kb: KnowledgeBase, handbook: str
) -> None:
    agent = AgentService(knowledge=kb, sessionmaker=kb.sessionmaker, llm=LLMSettings(), settings=AgentSettings())
    await agent.answer(ask(handbook, "How do I rotate the signing key?"))
    priced = await agent.answer(ask(handbook, "How much does that cost?"))
    followed = await agent.answer(ask(handbook, "and what happens to the old tokens after that?"))

    threshold = AgentSettings().min_similarity
    best_passage = max(r.similarity or 0.0 for r in priced.retrieved)
    assert best_passage >= threshold  # the key-rotation passage alone would have passed
    assert priced.outcome == "abstained" and priced.evidence is not None and priced.evidence < threshold
    assert followed.outcome == "answered" and "Old tokens stop working" in followed.text


async def test_an_extractive_follow_up_embeds_each_text_once(kb: KnowledgeBase, handbook: str) -> None:
    counting = CountingEmbedder()
    watched = KnowledgeBase(sessionmaker=kb.sessionmaker, embedder=counting, settings=kb.settings)
    agent = AgentService(knowledge=watched, sessionmaker=kb.sessionmaker, llm=LLMSettings(), settings=AgentSettings())
    await agent.answer(ask(handbook, "How do I rotate the signing key?", channel="counted"))
    counting.embedded.clear()
    reply = await agent.answer(ask(handbook, "How much does that cost?", channel="counted"))

    message, searched = "How much does that cost?", reply.standalone_question
    assert searched is not None and searched != message  # condensed: the search embeds its own text
    assert counting.embedded.count(message) == 1  # made when the answer began, reused by the quote check
    assert counting.embedded.count(searched) == 1 and len(counting.embedded) == 3  # the third: the quote


async def test_with_an_llm_the_evidence_is_the_best_passage_similarity(kb: KnowledgeBase, handbook: str) -> None:
    # Every word of the question occurs in the handbook: the coverage check takes nothing off.
    with scripted_llm(Reply("Press Rotate [1].")) as fake:
        reply = await make_agent(kb, llm_settings(fake.base_url)).answer(ask(handbook, "How do I rotate the key?"))
    assert reply.evidence == max(r.similarity or -1.0 for r in reply.retrieved)


# --- memory ---------------------------------------------------------------------------------------------------


async def test_memory_survives_a_new_service_and_forget_clears_it(kb: KnowledgeBase, handbook: str) -> None:
    await make_agent(kb).answer(ask(handbook, "How do I rotate the signing key?", channel="ops"))
    restarted = make_agent(kb)
    follow_up = "what happens to old tokens after that?"
    remembered = await restarted.answer(ask(handbook, follow_up, channel="ops"))
    assert remembered.standalone_question == f"How do I rotate the signing key? {follow_up}"

    assert await restarted.forget(ConversationKey(tenant=handbook, platform="test", channel="ops"))
    forgotten = await restarted.answer(ask(handbook, follow_up, channel="ops"))
    assert forgotten.standalone_question == follow_up
    # Forgetting keeps the history (feedback and reports refer to it); only the agent stops seeing it.
    async with session_scope(kb.sessionmaker) as session:
        count = len(
            (await session.scalars(select(Message).where(Message.conversation_id == remembered.conversation_id))).all()
        )
    assert count == 6


async def test_conversations_never_leak_across_channels_or_tenants(kb: KnowledgeBase, handbook: str) -> None:
    agent = make_agent(kb)
    first = await agent.answer(ask(handbook, "How do I rotate the signing key?", channel="c1"))
    follow_up = "what happens to old tokens after that?"
    other_channel = await agent.answer(ask(handbook, follow_up, channel="c2"))
    other_tenant = await agent.answer(ask(f"{handbook}-other", follow_up, channel="c1"))
    assert other_channel.standalone_question == follow_up
    assert other_tenant.standalone_question == follow_up
    assert len({first.conversation_id, other_channel.conversation_id, other_tenant.conversation_id}) == 3
    # The other tenant has no collections: nothing found, and nothing from this tenant's handbook.
    assert other_tenant.outcome == "abstained" and other_tenant.retrieved == []


async def test_an_unknown_collection_is_a_clear_error(kb: KnowledgeBase, handbook: str) -> None:
    reply = await make_agent(kb).answer(ask(handbook, "How do I rotate the key?", collections=["nope"]))
    assert reply.outcome == "error"
    assert "nope" in reply.text and reply.reference_id


def test_questions_are_validated() -> None:
    with pytest.raises(ValueError, match="empty"):
        AnswerRequest(question="   ")
    with pytest.raises(ValueError, match="4000"):
        AnswerRequest(question="x" * 4001)


# --- the rolling summary --------------------------------------------------------------------------------------

SUMMARY = "They asked how to rotate the signing key and how refunds work."
# No turn stays verbatim: each answer adds two turns of overflow, so the third answer has four to summarise.
SUMMARIZING = AgentSettings(min_similarity=0.25, sources=4, history_tokens=0)
EARLIER = ["How do I rotate the signing key?", "When are refunds issued?"]


def by_prompt(summaries: list[Step]) -> Responder:
    """The scripted model's reply by what it is asked: a standalone question, an answer citing [1], or a summary
    (the next of ``summaries``, consumed in order)."""

    def respond(body: dict[str, Any]) -> Step:
        system = body["messages"][0]["content"]
        if system == SUMMARIZE_SYSTEM:
            return summaries.pop(0)
        return Reply("How do I rotate the signing key?" if system == CONDENSE_SYSTEM else "Press Rotate [1].")

    return respond


def summary_requests(fake: ScriptedLLM) -> int:
    return sum(1 for r in fake.chat_requests if r.messages[0]["content"] == SUMMARIZE_SYSTEM)


async def stored_summary(kb: KnowledgeBase, conversation_id: int | None) -> tuple[str, int]:
    async with session_scope(kb.sessionmaker) as session:
        conversation = await session.get(Conversation, conversation_id)
    assert conversation is not None
    return conversation.summary, conversation.summary_through


async def test_the_summary_is_a_step_after_save_that_retries_a_transient_failure(
    kb: KnowledgeBase, handbook: str
) -> None:
    with scripted_llm(responder=by_prompt([Status(503), Reply(SUMMARY)])) as fake:
        agent = make_agent(kb, llm_settings(fake.base_url), SUMMARIZING)
        earlier = [await run_graph(agent, ask(handbook, q, channel="summed")) for q in EARLIER]
        steps, state = await run_graph(agent, ask(handbook, "How do I rotate the key?", channel="summed"))
    assert all(s[-1] == "save" for s, _ in earlier)  # two turns and four: nothing to summarise yet
    assert steps[-2:] == ["save", "summarize"]
    assert summary_requests(fake) == 2  # the 503, then its retry
    assert state["outcome"] == "answered" and state["text"] == "Press Rotate [1]."
    # It covers the turns up to the previous answer; this answer's turns wait for a later summary.
    assert await stored_summary(kb, state["conversation_id"]) == (SUMMARY, earlier[-1][1]["message_id"])
    # The summary's tokens count in the reply's usage; the answer's stored ones were counted before it.
    stored = await stored_message(kb, state["message_id"])
    assert state["usage"].completion_tokens - (stored.completion_tokens or 0) == len(SUMMARY.split())


@pytest.mark.parametrize(
    ("failure", "attempts"),
    [([Status(400)], 1), ([Status(503), Status(503)], 2)],
    ids=["permanent", "transient-every-time"],
)
async def test_a_failed_summary_leaves_the_answer_saved_and_is_tried_on_a_later_turn(
    kb: KnowledgeBase, handbook: str, failure: list[Step], attempts: int
) -> None:
    with scripted_llm(responder=by_prompt([*failure, Reply(SUMMARY)])) as fake:
        agent = make_agent(kb, llm_settings(fake.base_url), SUMMARIZING)
        for question in EARLIER:
            await agent.answer(ask(handbook, question, channel="unsummed"))
        reply = await agent.answer(ask(handbook, "How do I rotate the key?", channel="unsummed"))
        assert summary_requests(fake) == attempts
        assert reply.outcome == "answered" and reply.text == "Press Rotate [1]." and reply.reference_id is None
        stored = await stored_answer(kb, reply)
        assert stored.outcome == "answered" and stored.content == reply.text
        assert await stored_summary(kb, reply.conversation_id) == ("", 0)

        later = await agent.answer(ask(handbook, "How do I rotate the key?", channel="unsummed"))
    assert later.outcome == "answered" and summary_requests(fake) == attempts + 1
    assert await stored_summary(kb, later.conversation_id) == (SUMMARY, reply.message_id)
