"""Exceptions raised by the embeddings package."""


class EmbeddingsError(Exception):
    """Base class for embedding and index errors."""


class ModelError(EmbeddingsError):
    """The sentence-embedding model is missing, unsafe or does not match its checksum."""


class IndexIntegrityError(EmbeddingsError):
    """A saved index is incomplete or does not match its manifest."""


class NoIndexError(EmbeddingsError):
    """No complete index version exists yet."""


class OldIndexFormatError(IndexIntegrityError):
    """A saved index was written in an older format; it is rebuilt from the store."""


class ModelChangedError(IndexIntegrityError):
    """A saved index was embedded with another model (or model variant) than the one set."""
