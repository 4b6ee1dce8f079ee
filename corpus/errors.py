"""Exceptions raised by the corpus package."""


class CorpusError(Exception):
    """Base class for corpus errors."""


class ParseError(CorpusError):
    """A file or record could not be read as an article."""


class InvalidArticleError(CorpusError):
    """An article is missing a required field or has an invalid one."""
