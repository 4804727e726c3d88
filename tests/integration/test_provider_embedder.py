"""Provider embedders through the real LangChain clients, against fake OpenAI and Ollama servers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from core.settings import EmbeddingSettings
from knowledge.embeddings import EmbeddingError, LocalEmbedder, create_embedder
from knowledge.embeddings.providers import ProviderEmbedder

API_KEY = "sk-test-0123456789abcdef"
DIMS = 8


def raw_vector(text: str) -> npt.NDArray[np.float32]:
    """Deterministic and deliberately not unit length, so the embedder's normalisation shows."""
    digest = hashlib.sha256(text.encode()).digest()
    return np.frombuffer(digest[:DIMS], dtype=np.uint8).astype(np.float32) - 100.0


def expected(texts: list[str]) -> npt.NDArray[np.float32]:
    vectors = np.stack([raw_vector(t) for t in texts])
    normalised: npt.NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


class FakeServer:
    """``POST /v1/embeddings`` (OpenAI) and ``POST /api/embed`` (Ollama); records the inputs of every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                if self.path == "/api/embed":
                    fake.calls.append(inputs)
                    self.send_json(
                        200, {"model": body["model"], "embeddings": [raw_vector(t).tolist() for t in inputs]}
                    )
                elif self.path != "/v1/embeddings":
                    self.send_json(404, {"error": {"message": "not found"}})
                elif self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    # Echo the key the way careless servers do: the embedder must not repeat it.
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    self.send_json(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
                else:
                    fake.calls.append(inputs)
                    self.send_json(200, openai_response(body, inputs))

            def send_json(self, status: int, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def openai_response(body: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    def encode(vector: npt.NDArray[np.float32]) -> object:
        # The openai client asks for base64 (little-endian float32) unless told otherwise.
        if body.get("encoding_format") == "base64":
            return base64.b64encode(vector.astype("<f4").tobytes()).decode()
        return vector.tolist()

    data = [{"object": "embedding", "index": i, "embedding": encode(raw_vector(t))} for i, t in enumerate(inputs)]
    return {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    thread = threading.Thread(target=server.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def openai_settings(url: str, *, key: str = API_KEY, batch_size: int = 64) -> EmbeddingSettings:
    return EmbeddingSettings.model_validate(
        {"model": "openai:fake-embed", "base_url": f"{url}/v1", "api_key": key, "batch_size": batch_size}
    )


def test_dims_are_probed_once_and_lazily(fake: FakeServer) -> None:
    embedder = create_embedder(openai_settings(fake.url), max_retries=0, timeout=5)
    assert isinstance(embedder, ProviderEmbedder) and embedder.name == "openai:fake-embed"
    assert fake.calls == []  # constructing contacts nothing
    assert embedder.dims == DIMS and embedder.dims == DIMS
    assert len(fake.calls) == 1


def test_batches_become_separate_requests_and_vectors_are_normalised(fake: FakeServer) -> None:
    embedder = create_embedder(openai_settings(fake.url, batch_size=3), max_retries=0, timeout=5)
    texts = [f"text number {i}" for i in range(7)]
    vectors = embedder.embed_array(texts)
    assert [len(call) for call in fake.calls] == [3, 3, 1]
    assert vectors.shape == (7, DIMS) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected(texts), atol=1e-6)
    assert embedder.dims == DIMS and len(fake.calls) == 3  # learnt from the vectors: no probe
    np.testing.assert_allclose(embedder.embed_query("q"), expected(["q"])[0], atol=1e-6)


def test_a_rejected_key_is_an_embedding_error_without_the_key(fake: FakeServer) -> None:
    wrong = "sk-wrong-key-9876543210"
    embedder = create_embedder(openai_settings(fake.url, key=wrong), max_retries=0, timeout=5)
    with pytest.raises(EmbeddingError, match="401") as caught:
        embedder.embed_array(["hello"])
    message = str(caught.value)
    assert wrong not in message and "\n" not in message
    assert "openai:fake-embed" in message


def test_a_closed_port_is_an_embedding_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    embedder = create_embedder(openai_settings(f"http://127.0.0.1:{port}"), max_retries=0, timeout=2)
    with pytest.raises(EmbeddingError, match=r"(?i)connect") as caught:
        embedder.embed_array(["hello"])
    assert API_KEY not in str(caught.value)


def test_ollama_through_its_own_client(fake: FakeServer) -> None:
    settings = EmbeddingSettings.model_validate({"model": "ollama:fake-embed", "base_url": fake.url, "batch_size": 2})
    embedder = create_embedder(settings, timeout=5)
    vectors = embedder.embed_array(["a", "b", "c"])
    assert [len(call) for call in fake.calls] == [2, 1]
    np.testing.assert_allclose(vectors, expected(["a", "b", "c"]), atol=1e-6)


def test_any_provider_with_a_base_url_is_openai_compatible(fake: FakeServer) -> None:
    settings = EmbeddingSettings.model_validate({"model": "vllm:fake-embed", "base_url": f"{fake.url}/v1"})
    with pytest.raises(EmbeddingError, match="401"):  # no key configured: a placeholder is sent, never OPENAI's
        create_embedder(settings, max_retries=0, timeout=5).embed_array(["x"])


def test_factory_choices_and_refusals() -> None:
    assert isinstance(create_embedder(EmbeddingSettings()), LocalEmbedder)
    openai = create_embedder(
        EmbeddingSettings.model_validate({"model": "openai:text-embedding-3-small", "api_key": "k"})
    )
    assert openai.dims == 1536 and openai.max_tokens == 8191  # known: no probe, no network
    with pytest.raises(EmbeddingError, match="EMBEDDING_MODEL"):
        create_embedder(EmbeddingSettings(model="mystery:model"))
    with pytest.raises(EmbeddingError, match="EMBEDDING_API_KEY"):
        create_embedder(EmbeddingSettings(model="openai:text-embedding-3-small"))
