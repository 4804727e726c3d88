"""A synthetic corpus that behaves like a real one for the database: Zipf-distributed words with topics,
and embeddings clustered around topic centroids (random unit vectors would be an unrealistically hard case
for HNSW, and uniform words an unrealistically easy one for BM25).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_ONSETS = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "st", "tr", "pl", "gr", "ch"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
_CODAS = ["", "", "n", "r", "l", "s", "t", "m", "x", "nd"]


@dataclass(frozen=True, slots=True)
class SyntheticChunk:
    document: int
    heading: str
    content: str
    vector: npt.NDArray[np.float32]


class SyntheticCorpus:
    def __init__(
        self,
        *,
        chunks: int,
        dims: int = 384,
        vocabulary: int = 40_000,
        words_per_chunk: int = 110,
        chunks_per_document: int = 8,
        seed: int = 7,
    ) -> None:
        self.size = chunks
        self.dims = dims
        self.words_per_chunk = words_per_chunk
        self.chunks_per_document = chunks_per_document
        self.documents = (chunks + chunks_per_document - 1) // chunks_per_document
        self._rng = np.random.default_rng(seed)
        self.words = self._make_words(vocabulary)
        ranks = np.arange(1, vocabulary + 1, dtype=np.float64)
        zipf = 1.0 / ranks**1.07
        self._word_p = zipf / zipf.sum()
        self.topics = max(16, chunks // 500)
        # Each topic favours a few hundred mid-frequency words and has its own direction in embedding space.
        self._topic_words = self._rng.integers(200, vocabulary, size=(self.topics, 300))
        centroids = self._rng.standard_normal((self.topics, dims)).astype(np.float32)
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)

    def _make_words(self, count: int) -> list[str]:
        words: set[str] = set()
        rng = np.random.default_rng(11)
        while len(words) < count:
            syllables = rng.integers(1, 4)
            words.add(
                "".join(
                    _ONSETS[rng.integers(len(_ONSETS))]
                    + _VOWELS[rng.integers(len(_VOWELS))]
                    + _CODAS[rng.integers(len(_CODAS))]
                    for _ in range(syllables)
                )
            )
        return sorted(words, key=lambda w: (len(w), w))

    def topic_of(self, chunk: int) -> int:
        return (chunk // self.chunks_per_document) % self.topics

    def batches(self, batch_size: int) -> Iterator[list[SyntheticChunk]]:
        """The corpus in order, ``batch_size`` chunks at a time (deterministic for a seed)."""
        for start in range(0, self.size, batch_size):
            count = min(batch_size, self.size - start)
            ids = np.arange(start, start + count)
            topics = np.array([self.topic_of(int(i)) for i in ids])
            general = self._rng.choice(len(self.words), size=(count, self.words_per_chunk), p=self._word_p)
            topical = self._topic_words[topics][
                np.arange(count)[:, None], self._rng.integers(0, 300, size=(count, self.words_per_chunk // 3))
            ]
            noise = self._rng.standard_normal((count, self.dims)).astype(np.float32) * 0.045
            vectors = self.centroids[topics] + noise
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            batch = []
            for row in range(count):
                tokens = [self.words[i] for i in np.concatenate([general[row], topical[row]])]
                self._rng.shuffle(tokens)
                heading = (
                    f"{self.words[self._topic_words[topics[row], 0]].title()} › {self.words[topical[row, 0]].title()}"
                )
                batch.append(
                    SyntheticChunk(int(ids[row]) // self.chunks_per_document, heading, " ".join(tokens), vectors[row])
                )
            yield batch

    def queries(self, count: int, *, seed: int = 99) -> list[tuple[str, npt.NDArray[np.float32]]]:
        """Queries that have answers: a few words of some chunk's topic plus common words, near its centroid."""
        rng = np.random.default_rng(seed)
        found = []
        for _ in range(count):
            topic = int(rng.integers(self.topics))
            words = [self.words[i] for i in rng.choice(self._topic_words[topic], size=3, replace=False)]
            words += [self.words[i] for i in rng.choice(len(self.words), size=3, p=self._word_p)]
            vector = self.centroids[topic] + rng.standard_normal(self.dims).astype(np.float32) * 0.05
            found.append((" ".join(words), (vector / np.linalg.norm(vector)).astype(np.float32)))
        return found
