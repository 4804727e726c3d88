"""The one stand-in for a chat model that measurement and tests use: what it replies (its script) and how an
OpenAI-compatible server sends that reply (the wire format the real ``openai`` client parses).

Three callers share it: ``threadwise bench agent`` runs ``StandInChatModel`` in process (so that only our own
overhead is timed); ``threadwise bench slack`` serves the same script over HTTP from its stand-in process
(``bot/bench/stand_ins.py``); the tests' scripted server (``tests/fakes/openai_server.py``) sends its scripted
replies in the same wire format.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agent import prompts

STAND_IN_ANSWER = "The synthetic corpus covers this in its first passage [1], with more detail in the second [2]."
STAND_IN_SUMMARY = "The team asked about the synthetic corpus; the answers cited its passages."
_LATEST_MESSAGE = re.compile(r"Latest message: (.*)\n\nStandalone question:\s*$", re.DOTALL)


def reply_to(system: str, last: str, *, answer: str = STAND_IN_ANSWER) -> str:
    """The script: condensing returns the latest message as it was written, summarising a fixed line, and any
    other request ``answer`` (which cites two sources)."""
    if system == prompts.CONDENSE_SYSTEM:
        found = _LATEST_MESSAGE.search(last)
        return found.group(1).strip() if found else last
    if system == prompts.SUMMARIZE_SYSTEM:
        return STAND_IN_SUMMARY
    return answer


def pieces(text: str) -> list[str]:
    """How a reply streams: word by word, the pieces joining back to exactly ``text``."""
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece]


# --- the wire format ---------------------------------------------------------------------------------------------


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _envelope(body: dict[str, Any], object_: str) -> dict[str, Any]:
    """The fields every completion and chunk carries, named as OpenAI does so the SDK parses them."""
    model = body.get("model")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": object_,
        "created": int(time.time()),
        "model": model if isinstance(model, str) else "stand-in",
        "system_fingerprint": None,
    }


def completion(text: str, body: dict[str, Any], counted: dict[str, int]) -> dict[str, Any]:
    """A ``chat.completion`` answering the request ``body`` with ``text``."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    return {
        **_envelope(body, "chat.completion"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": counted,
    }


def completion_chunks(parts: Sequence[str], body: dict[str, Any], counted: dict[str, int]) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of a streamed reply made of ``parts``, as OpenAI sends them (minus the
    final ``[DONE]``); usage comes last when the request asked for it."""
    head = _envelope(body, "chat.completion.chunk")
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    if include_usage:
        head["usage"] = None  # OpenAI sends a null usage on every chunk but the last when usage is requested

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**head, "choices": [choice]}

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for part in parts:
        yield chunk({"content": part})
    yield chunk({}, "stop")
    if include_usage:
        yield {**head, "choices": [], "usage": counted}


def request_texts(body: dict[str, Any]) -> tuple[str, str]:
    """The system prompt and the last message of an OpenAI chat request: what the script reads."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "", ""

    def content(message: object) -> str:
        value = message.get("content") if isinstance(message, dict) else None
        return value if isinstance(value, str) else ""

    first = messages[0]
    system = content(first) if isinstance(first, dict) and first.get("role") == "system" else ""
    return system, content(messages[-1])


# --- in process ------------------------------------------------------------------------------------------------


class StandInChatModel(BaseChatModel):
    """The script as a LangChain chat model: replies at once, in process; answers stream word by word, as a real
    model's would."""

    answer: str = STAND_IN_ANSWER

    @property
    def _llm_type(self) -> str:
        return "stand-in"

    def reply(self, messages: Sequence[BaseMessage]) -> str:
        system = str(messages[0].content) if messages else ""
        last = str(messages[-1].content) if messages else ""
        return reply_to(system, last, answer=self.answer)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.reply(messages)))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in pieces(self.reply(messages)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for piece in pieces(self.reply(messages)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
