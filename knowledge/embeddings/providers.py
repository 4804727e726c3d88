"""Any LangChain ``Embeddings`` (OpenAI, Ollama, an OpenAI-compatible server) as an ``Embedder``."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import httpx
import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings
from tokenizers import Tokenizer

from knowledge.embeddings.base import Embedder, EmbeddingError
from knowledge.embeddings.tokenizer import load_minilm_tokenizer, token_count

KNOWN_DIMS = {
    "openai:text-embedding-3-small": 1536,
    "openai:text-embedding-3-large": 3072,
    "openai:text-embedding-ada-002": 1536,
}
KNOWN_MAX_TOKENS = dict.fromkeys(KNOWN_DIMS, 8191)
DEFAULT_MAX_TOKENS = 512
"""For models we know nothing about: the window of most BERT-family embedders."""
_PROBE = "dimension probe"
_REASON_CHARS = 300


class ProviderEmbedder(Embedder):
    """Calls ``inner.embed_documents`` in batches; vectors come back float32 and L2-normalised.

    Token counts are estimates from the local MiniLM tokenizer: for English its 30k-word WordPiece vocabulary
    usually counts more tokens than the providers' larger BPE ones, so budgets tend to err on the safe side.
    ``secrets`` are masked out of every error message.
    """

    def __init__(
        self,
        inner: Embeddings,
        name: str,
        *,
        batch_size: int = 64,
        dims: int | None = None,
        max_tokens: int | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.inner = inner
        self.name = name
        self.batch_size = batch_size
        self.max_tokens = max_tokens or KNOWN_MAX_TOKENS.get(name, DEFAULT_MAX_TOKENS)
        self._dims = dims or KNOWN_DIMS.get(name)
        self._secrets = [s for s in secrets if s]
        self._probe_lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()
        self._tokenizer: Tokenizer | None = None

    @property
    def dims(self) -> int:
        """Known for OpenAI's models; otherwise learnt from the first vectors (a one-text probe if asked first)."""
        if self._dims is None:
            with self._probe_lock:
                if self._dims is None:
                    self._dims = int(self._embed_batch([_PROBE]).shape[1])
        return self._dims

    @dims.setter
    def dims(self, value: int) -> None:
        self._dims = value

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            with self._tokenizer_lock:
                if self._tokenizer is None:
                    self._tokenizer = load_minilm_tokenizer()
        return token_count(self._tokenizer, text)

    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        batches = [self._embed_batch(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        vectors = np.concatenate(batches)
        if self._dims is None:
            self._dims = int(vectors.shape[1])  # learnt for free: no probe needed later
        elif vectors.shape[1] != self._dims:
            raise EmbeddingError(f"{self.name} returned {vectors.shape[1]}-dimensional vectors, expected {self._dims}")
        return vectors

    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        try:
            raw = self.inner.embed_documents(texts)
        except Exception as error:  # providers raise anything from HTTP errors to ValueError; all mean "no vectors"
            raise EmbeddingError(f"embedding with {self.name} failed: {self._reason(error)}") from error
        vectors = np.asarray(raw, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts) or vectors.shape[1] == 0:
            shape = "x".join(map(str, vectors.shape))
            raise EmbeddingError(f"{self.name} returned an array of shape {shape} for {len(texts)} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: npt.NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalised

    def _reason(self, error: BaseException) -> str:
        """One line, secrets masked: the error and, for network failures, the root cause (e.g. connection refused)."""
        parts = [f"{type(error).__name__}: {error}"]
        cause = error.__cause__ or error.__context__
        while cause is not None and (cause.__cause__ or cause.__context__) is not None:
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, OSError | httpx.TransportError) and str(cause) not in parts[0]:
            parts.append(f"caused by {type(cause).__name__}: {cause}")
        reason = " ".join("; ".join(parts).split())
        for secret in self._secrets:
            reason = reason.replace(secret, "***")
        return reason[:_REASON_CHARS]
