"""The OpenAPI document lists every status an operation can answer, with the problem+json
schema: what the app refuses itself (unreadable body 400, body too large 413, unknown query
parameter 422, no key 401) as well as what the routes document."""

from __future__ import annotations

from typing import Any

from tests.integration.admin_harness import Admin
from tests.integration.test_admin_strictness import PROBLEM, operations

PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


def problem_response(operation: dict[str, Any], status: int) -> dict[str, Any]:
    response: dict[str, Any] = operation["responses"][str(status)]
    assert response["content"][PROBLEM]["schema"] == PROBLEM_SCHEMA
    assert response["description"]
    return response


async def test_every_operation_documents_the_problems_it_can_answer(admin: Admin) -> None:
    document = (await admin.client.get("/openapi.json")).json()
    assert set(document["components"]["schemas"]["Problem"]["properties"]) >= {
        "type", "title", "status", "detail", "field", "errors",
    }  # fmt: skip
    with_body = 0
    for method, path, operation in operations(document):
        for status in (401, 403, 422, 503):
            assert str(status) in operation["responses"], (method, path, status)
            problem_response(operation, status)
        if "requestBody" in operation:
            with_body += 1
            for status in (400, 413, 422):
                assert str(status) in operation["responses"], (method, path, status)
                problem_response(operation, status)
            assert "nested too deep" in operation["responses"]["400"]["description"]
            assert "TARIF_ADMIN_MAX_BODY" in operation["responses"]["413"]["description"]
    assert with_body > 30


async def test_the_documented_statuses_are_the_ones_answered(admin: Admin) -> None:
    """Spot checks that the document and the answers agree, for statuses schemathesis does not
    provoke (it sends neither broken JSON nor 1 MiB bodies)."""
    document = (await admin.client.get("/openapi.json")).json()
    onboard = document["paths"]["/v1/customers"]["post"]
    broken = {**admin.as_("admin"), "content-type": "application/json"}
    answered = {
        (await admin.client.post("/v1/customers", content=b"{", headers=broken)).status_code,
        (await admin.call("POST", "/v1/customers", content=b" " * (2 << 20))).status_code,
        (await admin.call("POST", "/v1/customers", json={})).status_code,
        (await admin.call("POST", "/v1/customers", params={"x": 1}, json={})).status_code,
        (await admin.client.post("/v1/customers", json={})).status_code,
    }
    assert answered == {400, 413, 422, 401}
    assert answered <= {int(status) for status in onboard["responses"]}
    published = document["paths"]["/v1/catalog"]["get"]  # (lists take limit and cursor)
    assert "parameters" not in published  # takes nothing, yet an unknown parameter is a 422:
    assert (await admin.call("GET", "/v1/catalog", params={"x": 1})).status_code == 422
    assert "422" in published["responses"]
