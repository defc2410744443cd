"""ASGI middleware: each HTTP request's id (`X-Request-ID`, or a new one), held while the
request is served and answered back in the same header.

Log lines written meanwhile carry it, and the engine client passes it on (`x-request-id`
metadata), so a manual event or a usage adjustment has the same id in the admin API's logs, the
engine's and its rated record. Plain ASGI (not `BaseHTTPMiddleware`): the handler runs in this
middleware's context, so it sees the ContextVar.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tarif_common import request_ids

_HEADER = request_ids.HEADER.lower().encode("latin-1")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == _HEADER), None)
        request_id = request_ids.accepted(given)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[request_ids.HEADER] = request_id
            await send(message)

        with request_ids.bound(request_id):
            await self.app(scope, receive, send_with_id)
