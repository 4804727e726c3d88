"""The interface every embedder offers: LangChain's ``Embeddings`` plus what storage needs to know."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings


class EmbeddingError(RuntimeError):
    """An embedder could not produce vectors (bad configuration, provider failure); the message says why."""


class Embedder(Embeddings):
    """An embedding model with a stable name (recorded on each collection), its dimensions and a tokenizer."""

    name: str
    """Recorded on a collection; searching or adding with another name is refused."""
    dims: int
    max_tokens: int = 256
    """The model's window in tokens (special tokens included); longer texts are truncated."""

    @abstractmethod
    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embed many texts at once: shape (len(texts), dims), float32, L2-normalised."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens the embedder would see for ``text`` (chunking budgets are counted with this)."""

    def warm_up(self) -> None:
        """Load now what the first embedding needs (a local model, its tokenizer), so that it does not wait for
        them; nothing for a provider's API. Safe to call from another thread."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()  # type: ignore[no-any-return]
