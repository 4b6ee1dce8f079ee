"""Request body limits: a body over its route's limit is refused with 413
``payload_too_large``, from its ``Content-Length`` before anything is read, or, streamed
without one, as soon as the bytes received pass the limit.

Starlette's own limiter answers in plain text and replaces any response (even a 401) when
the declared length is too large; this one answers in the API's error shape.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response


class BodyTooLarge(HTTPException):
    """Raised while reading a body that passes its limit (an HTTPException, so FastAPI
    passes it through to the error handlers rather than calling it a parse error)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body too large")


class BodyLimitMiddleware:
    """Limits request bodies: ``admin_limit`` for admin batches (POST /articles),
    ``limit`` for everything else."""

    def __init__(self, app: ASGIApp, limit: int, admin_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.admin_limit = admin_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        admin = scope["method"] == "POST" and scope["path"].rstrip("/") == "/articles"
        limit = self.admin_limit if admin else self.limit
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(413, "payload_too_large", _message(scope, limit))
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, receive_within_limit, send)


def _message(scope: Scope, limit: int) -> str:
    return (
        f"the request body is larger than {scope['method']} {scope['path']} accepts "
        f"({limit:,} bytes); send less"
    )
