"""The OpenAPI document lists every status an operation can answer.

Some refusals come from the app, not from a route: FastAPI's body parsing (400: not JSON, not
UTF-8, nested too deep), the body limit (413), the unknown-query-parameter and NUL checks (422),
authentication (401, 403). They are added here, once, to each operation they apply to, with the
problem+json schema, so that no route has to remember them; what a route documents is kept.
"""

from __future__ import annotations

from typing import Any

from admin_api.problems import COMMON, MEDIA_TYPE, Problem

_SCHEMA = {"$ref": "#/components/schemas/Problem"}
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

# operations with a request body can also answer these
BODY: dict[int, str] = {
    400: "the body is not JSON (or not UTF-8, or nested too deep)",
    413: "the body is larger than the limit (TARIF_ADMIN_MAX_BODY)",
}
# every operation can answer these (422 for an unknown query parameter, even with none declared)
EVERY: dict[int, str] = {
    **{int(status): response["description"] for status, response in COMMON.items()},
    422: "invalid input, or a query parameter the operation does not take; `field` names it",
}


def _response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": _SCHEMA}}}


def add_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Adds the app's own refusals to every operation of `document` (in place) and returns it."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            statuses = EVERY | BODY if "requestBody" in operation else EVERY
            responses = operation.setdefault("responses", {})
            for status, description in sorted(statuses.items()):
                responses.setdefault(str(status), _response(description))
    return document
