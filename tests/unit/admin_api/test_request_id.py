"""The admin API's request id middleware: kept or made, seen by the handler, answered back."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from admin_api.request_id import RequestIdMiddleware
from tarif_common import request_ids


async def _seen(request: Request) -> JSONResponse:
    return JSONResponse({"seen": request_ids.current()})


def _client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/", _seen)])
    app.add_middleware(RequestIdMiddleware)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_caller_s_id_is_held_and_answered() -> None:
    async with _client() as client:
        answer = await client.get("/", headers={"X-Request-ID": "rq-http-1"})
    assert answer.headers["X-Request-ID"] == "rq-http-1"
    assert answer.json() == {"seen": "rq-http-1"}
    assert request_ids.current() is None  # not left behind


async def test_a_request_without_one_or_with_a_bad_one_gets_a_new_one() -> None:
    async with _client() as client:
        first = await client.get("/")
        second = await client.get("/", headers={"X-Request-ID": "has space"})
    ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
    assert [a.json()["seen"] for a in (first, second)] == ids
    assert len(set(ids)) == 2
    assert all(len(i) == 32 for i in ids)
