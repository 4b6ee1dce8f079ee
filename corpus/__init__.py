"""Articles in: parse, clean, segment and store news articles (no index, no HTTP)."""

from corpus.article import Article, Paragraph, Segmentation, Sentence
from corpus.errors import CorpusError, InvalidArticleError, ParseError

__all__ = [
    "Article",
    "CorpusError",
    "InvalidArticleError",
    "Paragraph",
    "ParseError",
    "Segmentation",
    "Sentence",
]
