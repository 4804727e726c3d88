"""Chat models from ``provider:model`` strings through LangChain's ``init_chat_model``, plus what counts as a
transient failure worth retrying.

The SDKs' own retries are turned off: the graph's ``RetryPolicy`` is the one place that retries (with
backoff), so attempts are counted once and a fallback model gets its turn.

OpenAI-compatible models talk HTTP through aiohttp (the SDK's own aiohttp transport) rather than its default
httpx client: measured here, one streamed answer cost 2.0 ms of CPU instead of 2.5 ms, and one of 100 chunks
18 ms instead of 21 ms. Each such client is the model's own, so ``ChatModels.aclose`` closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from core.settings import LLMSettings

if TYPE_CHECKING:  # langchain and openai cost ~1 s to import; extractive mode (no model) never needs them
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

# Exception classes (by name, so no provider SDK has to be imported) that mean "try again".
_TRANSIENT_NAMES = frozenset({"APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError"})


def is_transient(error: BaseException) -> bool:
    """Rate limits, server errors, timeouts and dropped connections: retry them; anything else is final."""
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return status in (408, 409, 429) or status >= 500
    if isinstance(error, (TimeoutError, httpx.TimeoutException, httpx.TransportError)):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(error).__mro__)


def _provider_kwargs(provider: str, settings: LLMSettings) -> dict[str, Any]:
    key = settings.api_key.get_secret_value() if settings.api_key else None
    base_url = str(settings.base_url).rstrip("/") if settings.base_url else None
    if provider == "ollama":
        kwargs: dict[str, Any] = {
            "num_predict": settings.max_tokens,
            "temperature": settings.temperature,
            "client_kwargs": {"timeout": settings.timeout},
        }
        if base_url:
            kwargs["base_url"] = base_url
        return kwargs
    kwargs = {"max_tokens": settings.max_tokens, "temperature": settings.temperature, "max_retries": 0}
    if provider == "anthropic":
        kwargs["default_request_timeout"] = settings.timeout
    else:
        kwargs["timeout"] = settings.timeout
    if provider == "openai":
        from openai import DefaultAioHttpClient

        kwargs["http_async_client"] = DefaultAioHttpClient(timeout=settings.timeout)
        kwargs["stream_usage"] = True  # token counts for streamed answers too
        if base_url and not key:
            key = "not-needed"  # local OpenAI-compatible servers (vLLM, llama.cpp, LM Studio) ignore it
    if base_url:
        kwargs["base_url"] = base_url
    if key:
        kwargs["api_key"] = key
    return kwargs


def create_chat_model(model: str, settings: LLMSettings) -> BaseChatModel:
    """``openai:gpt-4o-mini``, ``anthropic:claude-…``, ``ollama:llama3.2``, or ``openai:<name>`` with a base URL."""
    from langchain.chat_models import init_chat_model

    provider, _, name = model.partition(":")
    model_: BaseChatModel = init_chat_model(name, model_provider=provider, **_provider_kwargs(provider, settings))
    return model_


@dataclass(frozen=True)
class ChatModels:
    """The configured model and its optional fallback, ready for the graph's nodes."""

    primary_name: str
    primary: BaseChatModel
    fallback_name: str | None = None
    fallback: BaseChatModel | None = None

    async def aclose(self) -> None:
        """Close the HTTP clients made for these models (their connections, and aiohttp's session)."""
        from openai import DefaultAioHttpClient

        for model in (self.primary, self.fallback):
            client = getattr(model, "http_async_client", None)
            if isinstance(client, DefaultAioHttpClient):
                await client.aclose()

    def runnable(self) -> Runnable[Any, Any]:
        """The primary model; when it fails, the fallback (if any) gets the same request."""
        if self.fallback is None:
            return self.primary
        return self.primary.with_fallbacks([self.fallback])


def create_chat_models(settings: LLMSettings) -> ChatModels | None:
    """None when no model is configured: the agent then answers with extracts."""
    if not settings.model:
        return None
    fallback = settings.fallback_model
    return ChatModels(
        primary_name=settings.model,
        primary=create_chat_model(settings.model, settings),
        fallback_name=fallback,
        fallback=create_chat_model(fallback, settings) if fallback else None,
    )
