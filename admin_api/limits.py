"""A size limit on request bodies (`TARIF_ADMIN_MAX_BODY`), enforced before a body is read whole.

A declared `Content-Length` over the limit is refused at once, without reading a byte; a body
without one (chunked) is counted as it arrives and refused at the first chunk past the limit.
Either way the answer is a 413 problem+json and no handler sees the body.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin_api.problems import problem

TITLE = "Request body too large"


class BodyTooLarge(HTTPException):
    """A chunked body passed the limit while it was being read.

    An `HTTPException` because FastAPI lets those through its body parsing (it turns any other
    error there into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, TITLE)
        self.limit = limit


def refusal(limit: int) -> JSONResponse:
    # No `connection: close`: a client still sending would get a reset instead of this answer.
    # Kept alive, uvicorn discards the rest of the body unread once the answer is complete.
    return problem(413, TITLE, f"the body is larger than {limit} bytes", field="body")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    """Pure ASGI middleware (no `BaseHTTPMiddleware`): it wraps `receive` and counts."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body:
            await refusal(self.max_body)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # normally answered by the exception handler below; this catches it if it escaped
            if started:
                raise
            await refusal(self.max_body)(scope, receive, send)


async def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return refusal(exc.limit)


def install(app: FastAPI, max_body: int) -> None:
    app.add_middleware(BodyLimit, max_body=max_body)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
