"""A query parameter an operation does not take is a 422 naming it, on every operation: a
misspelt filter must not quietly return everything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.integration.admin_harness import Admin, onboarding

PROBLEM = "application/problem+json"


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path with every path parameter set to 1, operation) for each operation."""
    for template, item in document["paths"].items():
        for method, operation in item.items():
            path = template
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", "1")
            yield method.upper(), path, operation


async def test_an_unknown_filter_is_refused_instead_of_listing_everyone(admin: Admin) -> None:
    for msisdn in ("38640555101", "38640555102"):
        response = await admin.call("POST", "/v1/customers", json=onboarding(msisdn))
        assert response.status_code == 201, response.text
    listed = await admin.call("GET", "/v1/customers", params={"city": "Ljubljana"})
    assert len(listed.json()["items"]) == 2  # known filters still work

    response = await admin.call("GET", "/v1/customers", params={"imsi": "293410000005001"})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["field"] == "query.imsi"
    assert problem["errors"] == [
        {
            "field": "query.imsi",
            "message": problem["errors"][0]["message"],
            "type": "extra_forbidden",
        }
    ]
    # the answer says what the operation takes, paging's parameters included
    for name in ("q", "city", "limit", "cursor", "sort"):
        assert name in problem["detail"]


async def test_every_unknown_parameter_is_named_beside_known_ones(admin: Admin) -> None:
    response = await admin.call(
        "GET", "/v1/customers", params={"limit": 5, "accountid": "x", "cty": "Ljubljana"}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.accountid", "query.cty"]


async def test_every_operation_refuses_an_unknown_query_parameter(admin: Admin) -> None:
    document = (await admin.client.get("/openapi.json")).json()
    audited = await admin.count("audit_log")
    checked = 0
    for method, path, _ in operations(document):
        response = await admin.call(method, path, params={"imsi": "293410000005001"})
        assert response.status_code == 422, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["field"] == "query.imsi", (method, path)
        checked += 1
    assert checked > 90  # every operation of the API
    assert await admin.count("audit_log") == audited  # refused before any handler ran


async def test_every_documented_query_parameter_is_accepted(admin: Admin) -> None:
    """The check and the OpenAPI document agree: what an operation documents (its dependencies'
    parameters included) is never called unknown."""
    document = (await admin.client.get("/openapi.json")).json()
    with_query = 0
    for method, path, operation in operations(document):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        if not names:
            continue
        with_query += 1
        response = await admin.call(method, path, params=dict.fromkeys(names, "1"))
        # other 4xx (a bad value, no such object) are fine here: only "unknown" is wrong
        if response.status_code == 422:
            types = {e.get("type") for e in response.json().get("errors", [])}
            assert "extra_forbidden" not in types, (method, path, response.text)
    assert with_query >= 7  # the lists with filters or paging, `from` (an alias) among them
