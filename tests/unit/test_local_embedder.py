"""The local MiniLM embedder: sensible geometry, exact batching, truncation, and a verified model file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import EmbeddingError, LocalEmbedder
from knowledge.embeddings.local import plan_batches

QUESTION = "How do I reset my password?"
PARAPHRASE = "Steps to change a forgotten password"
UNRELATED = "The quarterly revenue grew by 8%"


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    # Small batches, so a handful of texts spans several of them (by count for short ones, by tokens for long).
    return LocalEmbedder(batch_size=4, max_batch_tokens=128)


def test_shape_dtype_and_unit_length(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed_array([QUESTION, PARAPHRASE, ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.name == "local:all-MiniLM-L6-v2-int8" and embedder.dims == 384 and embedder.max_tokens == 256


def test_empty_input_gives_an_empty_array(embedder: LocalEmbedder) -> None:
    assert embedder.embed_array([]).shape == (0, 384)
    assert embedder.embed_documents([]) == []


def test_paraphrases_are_closer_than_unrelated_text(embedder: LocalEmbedder) -> None:
    question, paraphrase, unrelated = embedder.embed_array([QUESTION, PARAPHRASE, UNRELATED])
    assert question @ paraphrase > question @ unrelated + 0.2


def test_a_text_gets_the_same_vector_alone_and_in_a_padded_batch(embedder: LocalEmbedder) -> None:
    alone = np.array(embedder.embed_query(QUESTION), dtype=np.float32)
    batch = embedder.embed_array([UNRELATED * 10, QUESTION, "short", PARAPHRASE + " " + UNRELATED * 3])
    np.testing.assert_allclose(batch[1], alone, atol=1e-4)


def test_order_is_kept_across_length_sorted_batches(embedder: LocalEmbedder) -> None:
    # Lengths deliberately out of order, across three batches of four.
    texts = [f"{word} " * n for word, n in zip("abcdefghijk", [40, 3, 25, 1, 60, 9, 2, 33, 14, 5, 70], strict=True)]
    together = embedder.embed_array(texts)
    one_by_one = np.stack([embedder.embed_array([text])[0] for text in texts])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)


def test_batches_group_similar_lengths_within_both_limits() -> None:
    lengths = [50, 3, 9, 200, 4, 60, 5, 8]
    batches = plan_batches(lengths, batch_size=3, max_batch_tokens=120)
    # By length: [3, 4, 5] (count), [8, 9] (3 x 50 > 120 tokens), [50, 60] (2 x 60 = 120), [200].
    assert batches == [[1, 4, 6], [7, 2], [0, 5], [3]]
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert plan_batches([], batch_size=3, max_batch_tokens=120) == []
    assert plan_batches([500], batch_size=3, max_batch_tokens=120) == [[0]]  # too long alone still goes


def test_long_text_is_truncated_not_rejected(embedder: LocalEmbedder) -> None:
    head = "Rotate the signing key every ninety days and keep the previous one for a day. " * 20
    long_text = head + "Completely unrelated trailing text about gardening and tomatoes. " * 40
    assert embedder.count_tokens(long_text) > embedder.max_tokens
    vector = embedder.embed_array([long_text])[0]
    # Only the first 256 tokens count: whatever follows them changes nothing.
    np.testing.assert_allclose(vector, embedder.embed_array([head + "more words " * 300])[0], atol=1e-4)


def test_count_tokens_includes_special_tokens_without_truncating(embedder: LocalEmbedder) -> None:
    assert embedder.count_tokens("") == 2  # [CLS] [SEP]
    assert embedder.count_tokens("hello world") == 4
    assert embedder.count_tokens("word " * 300) == 302


def test_langchain_interface(embedder: LocalEmbedder) -> None:
    documents = embedder.embed_documents([QUESTION, PARAPHRASE])
    assert len(documents) == 2 and len(documents[0]) == 384
    np.testing.assert_allclose(embedder.embed_query(QUESTION), documents[0], atol=1e-6)


def test_an_altered_model_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    with pytest.raises(EmbeddingError, match="sha256"):
        LocalEmbedder(model_path=fake)
    with pytest.raises(EmbeddingError, match="cannot be read"):
        LocalEmbedder(model_path=tmp_path / "missing.onnx")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LocalEmbedder(batch_size=0)


def test_first_use_from_several_threads_loads_one_session() -> None:
    fresh = LocalEmbedder()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: fresh.embed_array([QUESTION, PARAPHRASE]), range(4)))
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_after_warm_up_a_query_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime  # type: ignore[import-untyped]

    import knowledge.embeddings.local as local

    fresh = LocalEmbedder()
    fresh.warm_up()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the query waited for a model to load")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    monkeypatch.setattr(local, "load_minilm_tokenizer", refuse)
    assert len(fresh.embed_query(QUESTION)) == fresh.dims
