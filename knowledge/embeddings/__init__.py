"""Embedders: the local MiniLM model (offline) or a provider through LangChain, chosen by ``EMBEDDING_MODEL``."""

from knowledge.embeddings.base import Embedder, EmbeddingError
from knowledge.embeddings.factory import create_embedder
from knowledge.embeddings.local import LocalEmbedder

__all__ = ["Embedder", "EmbeddingError", "LocalEmbedder", "create_embedder"]
