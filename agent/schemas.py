"""What goes into the agent and what comes out: the contract every platform adapter and the HTTP API share."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from agent.models import Outcome

MAX_QUESTION_CHARS = 4000
MAX_ID = 2**63 - 1
"""Row ids are PostgreSQL bigints: a larger number names no row and cannot even be sent as a parameter."""


def _storable(value: str) -> str:
    """PostgreSQL's text cannot hold NUL, and UTF-8 cannot encode a lone surrogate (JSON's ``"\\ud800"``):
    refused here, where the sender learns why, rather than failing half-way through storing a turn."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must not contain a lone surrogate (half a UTF-16 pair); send valid Unicode") from None
    return value


def without_unstorable(text: str) -> str:
    """``text`` less what :data:`StorableText` refuses (NUL, lone surrogates): for a chat message, which is still
    a question worth answering when a broken client or a paste from a binary put one in."""
    text = text.replace("\x00", "")
    if text.isascii():
        return text
    return "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


StorableText = Annotated[str, AfterValidator(_storable)]
"""Text that can be stored and searched: no NUL, no lone surrogates."""
RequiredText = Annotated[str, AfterValidator(_storable), AfterValidator(_not_blank)]
"""Storable text with something in it besides whitespace."""


class ConversationKey(BaseModel):
    """Where a conversation lives. The thread is '' when a whole channel (or DM) is one conversation."""

    tenant: RequiredText = Field(default="local", min_length=1, max_length=200)
    platform: RequiredText = Field(default="api", min_length=1, max_length=32)
    channel: RequiredText = Field(default="default", min_length=1, max_length=200)
    thread: StorableText = Field(default="", max_length=200)


class AnswerRequest(BaseModel):
    question: StorableText = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    conversation: ConversationKey = ConversationKey()
    user_id: StorableText | None = Field(default=None, max_length=200)
    platform_message_id: StorableText | None = Field(default=None, max_length=200)
    collections: list[StorableText] | None = None
    """Collections to search; None means the configured default (or all of the tenant's)."""
    instructions: StorableText | None = Field(default=None, max_length=2000)
    """Extra instructions for this channel (tone, language, audience); never overrides the rules."""
    trace_id: StorableText | None = Field(default=None, max_length=64)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is empty; ask something")
        return value.strip()


class Source(BaseModel):
    number: int
    """The [n] the answer cites it by."""
    title: str
    heading_path: str
    source_uri: str
    chunk_id: int
    collection: str
    similarity: float | None
    excerpt: str
    url: str | None = None
    """The published page, when known: what a person should open (``source_uri`` is where it was ingested from)."""

    @property
    def label(self) -> str:
        """What a person sees: the document title and, when it adds something, the section."""
        if not self.heading_path or self.heading_path == self.title:
            return self.title
        if self.heading_path.startswith(self.title):
            return self.heading_path
        return f"{self.title} › {self.heading_path}"


class Retrieved(BaseModel):
    """A passage the search returned (cited or not), for evaluation and debugging."""

    chunk_id: int
    source_uri: str
    similarity: float | None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class AnswerReply(BaseModel):
    text: str
    outcome: Outcome
    sources: list[Source] = []
    """For an answer, the sources it cites (numbered as cited); when abstaining, the closest passages found."""
    retrieved: list[Retrieved] = []
    evidence: float | None = None
    """The score compared with the abstention threshold: the best passage's similarity, mixed in extractive mode
    with the similarity of the quote it would show."""
    extractive: bool = False
    """True when the text is quoted passages rather than a model's answer (no LLM configured)."""
    standalone_question: str | None = None
    conversation_id: int | None = None
    message_id: int | None = None
    """The stored answer: feedback votes refer to it."""
    trace_id: str | None = None
    reference_id: str | None = None
    """Set on errors: what the person can quote to an operator."""
    model: str | None = None
    latency_ms: int = 0
    usage: Usage = Usage()


class StreamDelta(BaseModel):
    type: Literal["delta"] = "delta"
    text: str


class StreamFinal(BaseModel):
    type: Literal["final"] = "final"
    reply: AnswerReply


StreamEvent = StreamDelta | StreamFinal
