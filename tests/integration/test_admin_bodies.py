"""Request bodies: one that cannot be read as JSON is a 400 problem+json on every operation that
takes one (a 422 is for JSON that is not valid input); one larger than `TARIF_ADMIN_MAX_BODY` is
a 413 problem+json, refused before it is read whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from admin_api.app import State, balance_store, create_app
from tarif_client.engine import GrpcEngine
from tarif_common.settings import Settings
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.test_admin_strictness import PROBLEM, operations


async def body_operations(admin: Admin) -> Iterator[tuple[str, str]]:
    document = (await admin.client.get("/openapi.json")).json()
    found = [
        (m, p)
        for m, p, op in operations(document)
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert len(found) > 30  # every POST, PUT and PATCH of the API that takes JSON
    # the others take a file (the bank's XML results: tests/integration/test_sepa.py)
    others = [
        (m, p) for m, p, op in operations(document) if "requestBody" in op and (m, p) not in found
    ]
    assert others == [("POST", "/v1/sepa/collections/1/results")]
    return iter(found)


async def send(admin: Admin, method: str, path: str, body: bytes) -> tuple[int, dict[str, str]]:
    headers = {**admin.as_("admin"), "content-type": "application/json"}
    response = await admin.client.request(method, path, content=body, headers=headers)
    assert response.headers["content-type"] == PROBLEM, (method, path, response.text)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"account": ', "the body is not JSON: Expecting value (at byte 12)"),
        (b"[" * 100_000 + b"]" * 100_000, "the JSON is nested too deep"),
        (b'{"account": {"first_name": "Ren\xe9"}}', "the body is not UTF-8 text"),
    ],
    ids=["not JSON", "nested too deep", "not UTF-8"],
)
async def test_an_unreadable_body_is_a_400_on_every_operation(
    admin: Admin, body: bytes, detail: str
) -> None:
    for method, path in await body_operations(admin):
        status, problem = await send(admin, method, path, body)
        assert status == 400, (method, path, problem)
        assert problem["title"] == "Malformed request body"
        assert (problem["field"], problem["detail"]) == ("body", detail), (method, path)
    assert await admin.count("customers") == 0


async def test_readable_json_that_is_not_valid_input_stays_a_422(admin: Admin) -> None:
    body = onboarding()
    body["account"]["email"] = "not an address"
    response = await admin.call("POST", "/v1/customers", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "body.account.email"
    response = await admin.call("POST", "/v1/customers", json=[1, 2])
    assert (response.status_code, response.json()["field"]) == (422, "body")


LIMIT = 1 << 20  # the default TARIF_ADMIN_MAX_BODY, which the harness keeps


class Chunks:
    """A body sent in chunks of `size` bytes, counting how many the app pulled."""

    def __init__(self, total: int, size: int = 64 * 1024) -> None:
        self.total, self.size, self.pulled = total, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, self.total, self.size):
            self.pulled += 1
            yield b"x" * min(self.size, self.total - start)


def refused(response: httpx.Response, limit: int = LIMIT) -> bool:
    assert response.headers["content-type"] == PROBLEM, response.text
    problem = response.json()
    assert (problem["title"], problem["field"]) == ("Request body too large", "body")
    assert problem["detail"] == f"the body is larger than {limit} bytes"
    return response.status_code == 413


async def test_a_body_over_the_limit_is_a_413_on_every_operation(admin: Admin) -> None:
    body = b"x" * (LIMIT + 1)
    for method, path in await body_operations(admin):
        response = await admin.call(method, path, content=body)
        assert refused(response), (method, path, response.status_code)
    assert await admin.count("customers") == 0


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(
    admin: Admin,
) -> None:
    body = Chunks(10 * LIMIT)
    headers = {**admin.as_("admin"), "content-length": str(body.total)}
    response = await admin.client.post("/v1/customers", content=body, headers=headers)
    assert refused(response)
    assert body.pulled == 0


async def test_a_chunked_body_is_refused_at_the_first_chunk_past_the_limit(admin: Admin) -> None:
    body = Chunks(10 * LIMIT)  # no content-length: sent chunked
    response = await admin.call("POST", "/v1/customers", content=body)
    assert refused(response)
    assert body.pulled == LIMIT // body.size + 1  # 16 chunks fill the limit, the 17th is refused
    assert await admin.count("customers") == 0


@asynccontextmanager
async def app_with(admin: Admin, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The admin app over the harness' stores, with other settings."""
    engine = GrpcEngine(f"127.0.0.1:{admin.engine.app.grpc_port}")
    store = balance_store(admin.engine.redis, settings)
    app = create_app(State(settings, admin.pool, admin.engine.redis, admin.relay, engine, store))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://admin", headers=admin.as_("admin")
        ) as client:
            yield client
    finally:
        await engine.close()


def padded(size: int) -> bytes:
    """Onboarding JSON (invalid: an unknown field) of exactly `size` bytes."""
    head, tail = b'{"pad": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


async def test_the_limit_is_a_setting_and_a_body_at_the_limit_passes(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TARIF_ADMIN_MAX_BODY", "2048")
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    assert settings.admin_max_body == 2048
    async with app_with(admin, settings) as client:
        for content in (padded(2048), Chunks(2048, 100)):
            response = await client.post("/v1/customers", content=content)
            assert response.status_code == 422, response.text  # read and validated
            assert response.json()["title"] == "Invalid request"
        for content in (padded(2049), Chunks(2049, 100)):
            response = await client.post("/v1/customers", content=content)
            assert refused(response, 2048)
        # the default answers 1 MiB bodies as before
        big = padded(LIMIT)
        assert (await admin.call("POST", "/v1/customers", content=big)).status_code == 422


async def test_a_real_server_answers_413_and_keeps_serving(admin: Admin) -> None:
    """Over TCP through uvicorn, as `tarif admin serve` runs it: 10 MB bodies, declared or
    chunked, are answered 413 (not a reset connection: the client is still sending when the app
    refuses, and uvicorn discards the rest), and the next request is answered."""
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    engine = GrpcEngine(f"127.0.0.1:{admin.engine.app.grpc_port}")
    store = balance_store(admin.engine.redis, settings)
    app = create_app(State(settings, admin.pool, admin.engine.redis, admin.relay, engine, store))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=admin.as_("admin"), timeout=30
        ) as client:
            declared = await client.post("/v1/customers", content=b"x" * (10 * LIMIT))
            assert refused(declared)
            chunked = await client.post("/v1/customers", content=Chunks(10 * LIMIT))
            assert refused(chunked)
            listed = await client.get("/v1/customers")
            assert listed.status_code == 200, listed.text
    finally:
        server.should_exit = True
        await serving
        await engine.close()
