"""Request and response models of the HTTP API (pydantic lives only at this boundary)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    """Dates are strings ``YYYY-MM-DD``: no numbers, no times."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date string YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class AskFilters(BaseModel):
    """Optional restrictions on which articles may be quoted."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, min_length=1, max_length=200, description="Exact source name")
    published_after: IsoDate | None = Field(None, description="On or after this date (YYYY-MM-DD)")
    published_before: IsoDate | None = Field(
        None, description="On or before this date (YYYY-MM-DD)"
    )
    article_ids: list[str] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _dates_in_order(self) -> AskFilters:
        after, before = self.published_after, self.published_before
        if after is not None and before is not None and after > before:
            raise ValueError("published_after is later than published_before")
        return self


class AskRequest(BaseModel):
    """A question for the archive."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"question": "Who controls the al-Qaim border crossing?", "top_k": 3}]
        },
    )

    question: str = Field(..., min_length=1, max_length=1000)
    conversation_id: str | None = Field(None, min_length=1, max_length=100)
    top_k: StrictInt = Field(
        3,
        ge=1,
        le=10,
        description="How many quotes at most (quotes after the first only when relevant in "
        "their own right)",
    )
    filters: AskFilters | None = None

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be blank")
        return value.strip()


class ArticleIn(BaseModel):
    """An article for ``POST /articles`` (documentation of the body; parsed by ``corpus``)."""

    id: str = Field(..., description="1-200 letters, digits or . _ : ~ -")
    title: str
    text: str = Field(..., description="Plain text; paragraphs separated by blank lines")
    source: str | None = None
    url: str | None = Field(None, description="http(s) URL")
    published: str | None = Field(None, description="YYYY-MM-DD")
    author: str | None = None


class QuoteOut(BaseModel):
    """A verbatim slice ``article.text[start:end]`` of a stored article."""

    text: str
    article_id: str
    start: int
    end: int
    score: float
    citation: int


class CitationOut(BaseModel):
    """An article cited by number in ``answer`` and ``quotes``."""

    n: int
    article_id: str
    title: str
    source: str | None
    url: str | None
    published: str | None


class AskResponse(BaseModel):
    """The answer: verbatim quotes with citations, or an abstention."""

    conversation_id: str
    question: str
    resolved_question: str
    answered: bool
    confidence: float
    answer: str
    quotes: list[QuoteOut]
    citations: list[CitationOut]
    index_version: str
    mode: Literal["answer", "briefing"] = Field(
        "answer", description='"briefing" when the question asked to be briefed on a topic'
    )


class BriefRequest(BaseModel):
    """A topic to be briefed on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"topic": "ISIS in Deir e-Zor", "max_points": 5}]},
    )

    topic: str = Field(..., min_length=1, max_length=300)
    max_points: StrictInt = Field(5, ge=1, le=12, description="Points wanted at most")
    since: IsoDate | None = Field(None, description="Articles published on or after (YYYY-MM-DD)")
    until: IsoDate | None = Field(None, description="Articles published on or before")
    filters: AskFilters | None = None

    @field_validator("topic")
    @classmethod
    def _topic_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("topic must not be blank")
        return value.strip()

    @model_validator(mode="after")
    def _bounds_in_order(self) -> BriefRequest:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since is later than until")
        return self


class BriefPoint(BaseModel):
    """One key point: a verbatim slice ``article.text[start:end]`` and its article's date."""

    text: str
    article_id: str
    start: int
    end: int
    published: str | None
    citation: int
    score: float


class BriefResponse(BaseModel):
    """A digest of distinct, dated quotes in reading order (oldest article first)."""

    topic: str
    points: list[BriefPoint]
    citations: list[CitationOut]
    message: str | None = Field(description="Why the briefing is empty, when it is")
    index_version: str


class TurnOut(AskResponse):
    """One turn of a conversation: the ``/ask`` response it got, and when."""

    asked_at: dt.datetime


class ConversationOut(BaseModel):
    """A live conversation and its kept turns, oldest first."""

    conversation_id: str
    started_at: dt.datetime
    turns: list[TurnOut]


class ArticleSummary(BaseModel):
    """Article metadata without its text."""

    id: str
    title: str
    source: str | None
    url: str | None
    published: str | None
    author: str | None


class ArticleOut(ArticleSummary):
    """A stored article; quote offsets point into ``text``."""

    text: str
    duplicate_of: str | None = Field(
        None, description="The canonical article this one near-duplicates (it is not indexed)"
    )
    duplicates: list[str] = Field([], description="Articles recorded as near-duplicates of this")


class JobArticle(BaseModel):
    """What a job did to one article."""

    id: str
    outcome: str = Field(description="added, replaced, unchanged or deleted")
    duplicate_of: str | None = None


class JobOut(BaseModel):
    """An index job: its articles are stored; ``state`` says whether the index has them."""

    job_id: str
    kind: str
    state: str = Field(description="queued, indexing, done or failed")
    articles: list[JobArticle]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    index_version: str | None = Field(description="The first index version with the changes")
    error: str | None


class IndexOut(BaseModel):
    """The live index and what is waiting to join it."""

    state: str
    version: str | None
    published_version: str | None = Field(
        description="Newest version on disk; the server switches to it within a second"
    )
    created_at: str | None
    kind: str | None = Field(description="full or incremental")
    build_seconds: float | None
    counts: dict[str, int]
    segments: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The version's immutable segments, oldest first: name, rows, and how "
        "many of their articles are withdrawn or replaced (tombstoned) in this version",
    )
    stored_articles: int
    pending_jobs: int


class ArticlePage(BaseModel):
    """One page of the article list."""

    total: int
    offset: int
    limit: int
    articles: list[ArticleSummary]


class ErrorBody(BaseModel):
    """What went wrong."""

    code: str
    message: str
    details: list[str] = []


class ErrorResponse(BaseModel):
    """Every 4xx/5xx response has this shape."""

    error: ErrorBody
