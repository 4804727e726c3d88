"""The local embedder spreads a big job's model runs over the cores (same vectors, every row in its place), and
counts tokens the cheap way (same counts)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from knowledge.embeddings import LocalEmbedder
from knowledge.embeddings.local import MAX_PARALLEL_RUNS
from knowledge.embeddings.tokenizer import load_minilm_tokenizer, token_count

WORDS = ["replica", "quorum", "lease", "journal", "snapshot", "cursor", "ledger", "backoff", "shard", "budget"]


def passages() -> list[str]:
    """Forty texts of 5 to ~240 tokens, out of length order: a dozen runs of 1,024 tokens or less."""
    return [" ".join(WORDS[(n + i) % len(WORDS)] for i in range(5 + (n * 37) % 230)) for n in range(40)]


def test_runs_at_once_give_the_vectors_of_one_run_at_a_time() -> None:
    texts = passages()
    serial, parallel = LocalEmbedder(threads=1), LocalEmbedder(threads=2)
    assert (serial.parallel_runs, parallel.parallel_runs) == (1, 2)
    expected = serial.embed_array(texts)
    np.testing.assert_array_equal(parallel.embed_array(texts), expected)
    # Bigger runs pad differently, nothing more.
    np.testing.assert_allclose(LocalEmbedder(threads=1, max_batch_tokens=4096).embed_array(texts), expected, atol=1e-6)


def test_runs_at_once_are_capped_and_share_the_cores() -> None:
    many = LocalEmbedder(threads=4 * MAX_PARALLEL_RUNS)
    assert many.parallel_runs == MAX_PARALLEL_RUNS and many._run_threads == 4
    assert LocalEmbedder(threads=2)._run_threads == 1


def test_a_failing_run_fails_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    embedder = LocalEmbedder(threads=2)
    run = embedder._run

    def failing(session: Any, encodings: list[Any]) -> Any:
        if max(len(e.ids) for e in encodings) > 200:
            raise RuntimeError("out of memory")
        return run(session, encodings)

    monkeypatch.setattr(embedder, "_run", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        embedder.embed_array(passages())


def test_counting_without_offsets_gives_the_counts_of_full_encodings() -> None:
    tokenizer = load_minilm_tokenizer()
    for text in ["", "hello world", "héllo wörld ﬁ", "日本語のテキスト", "🙂 emoji\u200b", "word " * 300, *passages()]:
        assert token_count(tokenizer, text) == len(tokenizer.encode(text).ids), text[:20]
