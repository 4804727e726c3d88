"""The real local embedder, noting every text it is asked to embed: how tests see that a vector was reused."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from knowledge.embeddings.local import LocalEmbedder


class CountingEmbedder(LocalEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []
        self.calls: list[list[str]] = []
        """The texts of each call, one list per model run."""

    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.embedded.extend(texts)
        self.calls.append(list(texts))
        return super().embed_array(texts)
