"""Index: embed segments offline and search them densely (FAISS) and sparsely (BM25)."""

from embeddings.errors import EmbeddingsError, IndexIntegrityError, ModelError

__all__ = ["EmbeddingsError", "IndexIntegrityError", "ModelError"]
