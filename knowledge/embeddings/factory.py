"""The embedder ``EMBEDDING_MODEL`` names: ``local``, ``openai:<model>``, ``ollama:<model>``, OpenAI-compatible."""

from __future__ import annotations

from typing import Any

from core.settings import EmbeddingSettings
from knowledge.embeddings.base import Embedder, EmbeddingError
from knowledge.embeddings.local import LocalEmbedder
from knowledge.embeddings.providers import ProviderEmbedder

DEFAULT_TIMEOUT = 60.0
# OpenAI-compatible servers usually want no key, but the openai client refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


def create_embedder(
    settings: EmbeddingSettings, *, timeout: float = DEFAULT_TIMEOUT, max_retries: int = 2, **client_options: Any
) -> Embedder:
    """Build (cheaply, without contacting anything) the embedder the settings name.

    ``timeout`` and ``max_retries`` apply to provider clients; ``client_options`` go to the LangChain class as is.
    """
    if settings.model == "local":
        return LocalEmbedder(batch_size=settings.batch_size, threads=settings.threads)
    provider, _, model = settings.model.partition(":")
    if not model:
        raise EmbeddingError(f"EMBEDDING_MODEL={settings.model!r} names no model after '{provider}:'")
    base_url = str(settings.base_url) if settings.base_url else None
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    if provider == "openai" and not base_url and not api_key:
        raise EmbeddingError(f"EMBEDDING_MODEL={settings.model!r} needs EMBEDDING_API_KEY")
    try:
        if provider == "ollama":
            inner: Any = _ollama(model, base_url, timeout, client_options)
        elif provider == "openai" or base_url:
            inner = _openai(model, base_url, api_key, timeout, max_retries, client_options)
        else:
            raise EmbeddingError(
                f"EMBEDDING_MODEL={settings.model!r}: unknown provider '{provider}' (use local, openai:<model>, "
                "ollama:<model>, or set EMBEDDING_BASE_URL for an OpenAI-compatible server)"
            )
    except EmbeddingError:
        raise
    except Exception as error:  # the client classes validate eagerly (e.g. a missing OpenAI key)
        message = str(error).replace(api_key, "***") if api_key else str(error)
        raise EmbeddingError(f"cannot set up {settings.model}: {' '.join(message.split())[:300]}") from error
    return ProviderEmbedder(inner, settings.model, batch_size=settings.batch_size, secrets=[api_key or ""])


def _openai(
    model: str, base_url: str | None, api_key: str | None, timeout: float, retries: int, options: dict[str, Any]
) -> Any:
    from langchain_openai import OpenAIEmbeddings

    if base_url:
        # Compatible servers take text, not the token arrays the length check would send (and tiktoken would
        # have to download its tables).
        options = {"check_embedding_ctx_length": False, **options}
        api_key = api_key or _PLACEHOLDER_KEY
    if api_key:
        options["openai_api_key"] = api_key
    return OpenAIEmbeddings(
        model=model, openai_api_base=base_url, request_timeout=timeout, max_retries=retries, **options
    )


def _ollama(model: str, base_url: str | None, timeout: float, options: dict[str, Any]) -> Any:
    from langchain_ollama import OllamaEmbeddings

    client_kwargs = {"timeout": timeout, **options.pop("client_kwargs", {})}
    return OllamaEmbeddings(model=model, base_url=base_url, client_kwargs=client_kwargs, **options)
