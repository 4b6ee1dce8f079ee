"""Middleware around every request: a request id, an access log line and metrics; the
security headers; and HEAD answered like GET, without a body."""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.metrics import Metrics

log = logging.getLogger("service.api.access")

# The id of the request being handled, for log records (see ``RequestIdFilter``).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RequestContextMiddleware:
    """Gives each request an id (a sane ``X-Request-ID`` from the client, else a new one),
    returns it as ``X-Request-ID``, logs one line per request and counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        given_id = given.decode("latin-1")
        rid = given_id if _GIVEN_ID.match(given_id) else secrets.token_hex(8)
        token = request_id.set(rid)
        method = scope["method"]
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template).observe(seconds)
            log.info(
                "%s %s %d %.1fms",
                method,
                template,
                status,
                seconds * 1000,
                extra={"status": status, "route": template, "duration_ms": seconds * 1000},
            )
            request_id.reset(token)


class SecurityHeadersMiddleware:
    """``nosniff`` on every response and no framing of anything Briefing serves; HEAD is
    answered as GET would be, headers only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"  # the routes are GET routes; the body is dropped below

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_secured)
