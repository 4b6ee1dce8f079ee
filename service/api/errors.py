"""The one error shape of the API, ``{"error": {"code", "message", "details"}}``, and the
handlers that turn every failure (ours, FastAPI's validation, Starlette's) into it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.answering.search import SearchUnavailableError
from service.api.schemas import ErrorResponse

log = logging.getLogger(__name__)

# The error statuses most routes document in the OpenAPI schema.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 413, 422, 429, 503)
}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "details"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the API's one error shape."""
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def no_conversation(conversation_id: str) -> ApiError:
    """The 404 for an unknown or expired conversation."""
    return ApiError(
        404,
        "conversation_not_found",
        f"conversation {conversation_id!r} does not exist or has expired; "
        "omit conversation_id to start a new one",
    )


def conversations_unavailable() -> ApiError:
    """The 503 for a conversation that cannot be read because Redis is unreachable."""
    return ApiError(
        503,
        "conversations_unavailable",
        "conversations cannot be read right now (the shared store is unreachable); retry "
        "shortly, or omit conversation_id to ask a new question",
        headers={"Retry-After": "1"},
    )


def no_article(article_id: str) -> ApiError:
    """The 404 for an article id the store does not hold."""
    return ApiError(404, "article_not_found", f"no article with id {article_id!r}")


def _describe(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
    return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid"))


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "the request body is not valid JSON")
    details = [_describe(e) for e in errors]
    return error_response(422, "invalid_request", "; ".join(details), details)


# Starlette's and FastAPI's own HTTP errors, in our words.
_HTTP_CODES = {
    404: ("not_found", None),
    405: ("method_not_allowed", None),
    # FastAPI's 400 for a body it could not parse: invalid UTF-8, JSON nested too deep,
    # an integer too long to convert.
    400: ("invalid_json", "the request body is not valid JSON (UTF-8, nesting or numbers)"),
}


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:
        return error_response(
            413,
            "payload_too_large",
            f"the request body is larger than {request.method} {request.url.path} accepts; "
            "send less",
        )
    code, message = _HTTP_CODES.get(exc.status_code, ("http_error", None))
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message or str(exc.detail), headers=headers)


async def _search_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503,
        "search_unavailable",
        f"the index cannot be searched right now ({exc}); retry shortly",
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "something went wrong on our side")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(SearchUnavailableError, _search_unavailable)
    app.add_exception_handler(Exception, _unexpected)
