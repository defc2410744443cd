"""Request bodies: one that cannot be read as JSON is a 400 problem+json on every operation that
takes one (a 422 is for JSON that is not valid input)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.admin_harness import Admin, onboarding
from tests.integration.test_admin_strictness import PROBLEM, operations


async def body_operations(admin: Admin) -> Iterator[tuple[str, str]]:
    document = (await admin.client.get("/openapi.json")).json()
    found = [(m, p) for m, p, op in operations(document) if "requestBody" in op]
    assert len(found) > 30  # every POST, PUT and PATCH of the API
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
