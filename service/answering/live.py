"""The index a request is answered from, and how articles are fetched for quoting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from corpus.article import Article
from embeddings.index import SearchIndex
from service.answering.retrieve import Retriever

# Fetches an article if the store still holds it with this content hash (else None).
ArticleLookup = Callable[[str, str], Article | None]


@dataclass(frozen=True)
class Live:
    """The index serving answers and its retriever (swapped together, atomically)."""

    index: SearchIndex
    retriever: Retriever
