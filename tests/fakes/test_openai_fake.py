"""The scripted OpenAI server drives the real ``ChatOpenAI`` client: replies, streams, errors, timeouts, fallbacks."""

from __future__ import annotations

import functools
import http.client
import json
import operator
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI

from tests.fakes.openai_server import Delay, Reply, ScriptedLLM, Status, scripted_llm


@pytest.fixture
def fake() -> Iterator[ScriptedLLM]:
    with scripted_llm() as llm:
        yield llm


def chat(fake: ScriptedLLM, model: str = "m", timeout: float = 5) -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=fake.base_url, api_key="k", max_retries=0, timeout=timeout)


def fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "scripted-llm" in t.name or "process_request" in t.name]


async def test_plain_reply_records_usage_and_the_request(fake: ScriptedLLM) -> None:
    fake.script(Reply("Hello there", prompt_tokens=7, completion_tokens=2))

    response = await chat(fake).ainvoke("hi")

    assert response.content == "Hello there"
    assert response.usage_metadata is not None
    assert response.usage_metadata["input_tokens"] == 7
    assert response.usage_metadata["output_tokens"] == 2
    assert response.usage_metadata["total_tokens"] == 9
    [request] = fake.chat_requests
    assert request.model == "m" and not request.stream
    assert request.messages[-1] == {"role": "user", "content": "hi"}
    assert request.headers["authorization"] == "Bearer k"


async def test_empty_queue_answers_with_the_default(fake: ScriptedLLM) -> None:
    assert (await chat(fake).ainvoke("hi")).content == "OK"
    fake.default = Reply("changed")
    assert (await chat(fake).ainvoke("hi")).content == "changed"


async def test_stream_arrives_in_several_chunks_with_usage(fake: ScriptedLLM) -> None:
    fake.script(Reply("Hello streaming world", prompt_tokens=4, completion_tokens=3))
    llm = ChatOpenAI(model="m", base_url=fake.base_url, api_key="k", max_retries=0, timeout=5, stream_usage=True)

    chunks = [chunk async for chunk in llm.astream("hi")]

    pieces = [chunk.content for chunk in chunks if chunk.content]
    assert pieces == ["Hello ", "streaming ", "world"]
    total = functools.reduce(operator.add, chunks)
    assert isinstance(total, AIMessageChunk)
    assert total.content == "Hello streaming world"
    assert total.usage_metadata is not None
    assert (total.usage_metadata["input_tokens"], total.usage_metadata["output_tokens"]) == (4, 3)
    [request] = fake.chat_requests
    assert request.stream and request.body is not None
    assert request.body["stream_options"] == {"include_usage": True}


async def test_stream_chunk_size_splits_by_characters(fake: ScriptedLLM) -> None:
    fake.script(Reply("abcdefg", chunk_size=3))
    pieces = [chunk.content async for chunk in chat(fake).astream("hi") if chunk.content]
    assert pieces == ["abc", "def", "g"]


async def test_rate_limit_raises_then_the_next_call_succeeds(fake: ScriptedLLM) -> None:
    fake.script(Status(429, retry_after=2), Reply("after the limit"))
    llm = chat(fake)

    with pytest.raises(openai.RateLimitError) as raised:
        await llm.ainvoke("hi")
    assert raised.value.response.headers["retry-after"] == "2"
    assert raised.value.code == "rate_limit_exceeded"
    assert raised.value.response.headers["content-type"] == "application/json"

    assert (await llm.ainvoke("hi")).content == "after the limit"
    assert len(fake.chat_requests) == 2


def test_server_error_with_a_custom_body_through_the_sync_client(fake: ScriptedLLM) -> None:
    fake.script(Status(503, body={"error": {"message": "overloaded", "type": "server_error", "code": None}}))
    with pytest.raises(openai.InternalServerError, match="overloaded"):
        chat(fake).invoke("hi")
    assert chat(fake).invoke("hi").content == "OK"


async def test_delay_longer_than_the_client_timeout_times_out() -> None:
    started = time.monotonic()
    with scripted_llm(Delay(30, then=Reply("too late"))) as fake, pytest.raises(openai.APITimeoutError):
        await chat(fake, timeout=0.3).ainvoke("hi")
    # Stopping interrupts the sleeping Delay instead of waiting out its 30 seconds.
    assert time.monotonic() - started < 3
    assert fake_threads() == []


async def test_delay_shorter_than_the_timeout_still_answers(fake: ScriptedLLM) -> None:
    fake.script(Delay(0.1, then=Reply("slow but fine")))
    assert (await chat(fake).ainvoke("hi")).content == "slow but fine"


async def test_model_restricted_steps_wait_for_their_model(fake: ScriptedLLM) -> None:
    fake.script(Reply("for primary", model="primary"), Reply("for anyone"))

    # The fallback model skips the step reserved for "primary" and takes the next open one.
    assert (await chat(fake, model="fallback").ainvoke("hi")).content == "for anyone"
    assert (await chat(fake, model="primary").ainvoke("hi")).content == "for primary"
    assert fake.pending == []


async def test_primary_times_out_and_the_fallback_answers(fake: ScriptedLLM) -> None:
    fake.script(Delay(30, model="primary"), Reply("from fallback", model="fallback"))
    llm = chat(fake, model="primary", timeout=0.3).with_fallbacks([chat(fake, model="fallback")])

    assert (await llm.ainvoke("hi")).content == "from fallback"
    assert [request.model for request in fake.chat_requests] == ["primary", "fallback"]


async def test_responder_answers_from_the_prompt(fake: ScriptedLLM) -> None:
    def echo(body: dict[str, Any]) -> Reply:
        return Reply(f"echo: {body['messages'][-1]['content']}")

    fake.responder = echo
    fake.script(Reply("scripted first"))
    llm = chat(fake)
    assert (await llm.ainvoke("one")).content == "scripted first"
    assert (await llm.ainvoke("two")).content == "echo: two"


async def test_api_key_is_checked() -> None:
    with scripted_llm(api_key="right") as fake:
        with pytest.raises(openai.AuthenticationError):
            await chat(fake).ainvoke("hi")
        right = ChatOpenAI(model="m", base_url=fake.base_url, api_key="right", max_retries=0, timeout=5)
        assert (await right.ainvoke("hi")).content == "OK"


async def test_models_endpoint_lists_the_models() -> None:
    with scripted_llm(models=["m", "fallback"]) as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        models = await client.models.list()
        await client.close()
    assert [model.id for model in models.data] == ["m", "fallback"]


def test_unknown_path_is_a_json_404(fake: ScriptedLLM) -> None:
    port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/v1/nowhere")
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 404
    assert response.getheader("Content-Type") == "application/json"
    assert body["error"]["code"] == "not_found"


def test_stop_leaves_no_threads_behind() -> None:
    with scripted_llm() as fake:
        chat(fake).invoke("hi")
        assert fake_threads() != []
    assert fake_threads() == []
    with pytest.raises(RuntimeError):
        _ = fake.base_url
