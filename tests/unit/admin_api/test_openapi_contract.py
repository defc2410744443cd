"""Every success answer of the admin API has a real schema in /openapi.json.

A client reads the document to learn what it gets: an object whose properties are named (or a
list of such), a CSV export declared as CSV, and nothing for a 204. A bare object (no properties)
anywhere in an answer must say in a description what it holds (a catalog document, an audit
record's before and after), and so must a value of any kind, or the test names it.
"""

from __future__ import annotations

from typing import Any

import pytest

from admin_api.app import openapi
from tarif_common.settings import Settings

JSON = "application/json"
# files: CSV exports, SEPA XML, rendered invoices (HTML, PDF, XML)
EXPORTS = {"text/csv", "application/xml", "text/html", "application/pdf"}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a `$ref` points to (followed until there is none)."""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            raise ValueError(f"a $ref loop at {ref}")
        seen.add(ref)
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


# What a schema can say about its value; one that says none of it allows anything.
_SAYS_WHAT = {"type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const", "properties"}


def _is_bare_object(schema: dict[str, Any]) -> bool:
    if schema.get("type") != "object" or schema.get("properties"):
        return False
    extra = schema.get("additionalProperties", True)
    return extra is True or extra == {}  # a typed map (`{"type": "string"}`) says what it holds


def nested_problems(
    document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str] | None = None
) -> list[str]:
    """Bare objects inside an answer that do not say what they hold."""
    seen = set() if seen is None else seen
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return []
        seen = seen | {ref}
    schema = resolve(document, schema)
    found = []
    if _is_bare_object(schema) and not schema.get("description"):
        found.append(f"{where}: an object without properties or a description")
    if not _SAYS_WHAT.intersection(schema) and not schema.get("description"):
        found.append(f"{where}: a value of any kind without a description")
    for name, sub in schema.get("properties", {}).items():
        found += nested_problems(document, sub, f"{where}.{name}", seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += nested_problems(document, sub, where, seen)
    if isinstance(schema.get("items"), dict):
        found += nested_problems(document, schema["items"], f"{where}[]", seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        found += nested_problems(document, extra, f"{where}{{}}", seen)
    return found


def _has_properties(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An object with properties, a list of such, or one of several such (a union)."""
    schema = resolve(document, schema)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return all(_has_properties(document, choice) for choice in choices)
    if schema.get("type") == "array":
        schema = resolve(document, schema.get("items", {}))
    return schema.get("type") == "object" and bool(schema.get("properties"))


def answer_problems(document: dict[str, Any], where: str, schema: dict[str, Any]) -> list[str]:
    """Why the schema of one 2xx JSON answer does not tell a client what it gets."""
    if not _has_properties(document, schema):
        return [f"{where}: not an object with properties (or a list or a union of such)"]
    return nested_problems(document, schema, where)


def problems(document: dict[str, Any]) -> list[str]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                where = f"{method.upper()} {path} {status}"
                content = response.get("content") or {}
                if status == "204":
                    if content:
                        found.append(f"{where}: a 204 has no body")
                    continue
                if not content:
                    found.append(f"{where}: no content declared")
                for media_type, body in content.items():
                    if media_type in EXPORTS:
                        continue
                    if media_type != JSON:
                        found.append(f"{where}: undocumented content type {media_type}")
                    elif "schema" not in body:
                        found.append(f"{where}: no schema")
                    else:
                        found += answer_problems(document, where, body["schema"])
    return found


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi(Settings(redis_url="redis://unused", database_url="postgresql://unused"))


def test_every_success_answer_has_a_real_schema(document: dict[str, Any]) -> None:
    found = problems(document)
    assert not found, f"{len(found)} answers without a real schema:\n" + "\n".join(found)


def test_the_api_has_answers_to_check(document: dict[str, Any]) -> None:
    answers = [
        status
        for operations in document["paths"].values()
        for operation in operations.values()
        for status in operation["responses"]
        if status.startswith("2") and status != "204"
    ]
    assert len(answers) >= 80


def _document(answer: dict[str, Any], status: str = "200") -> dict[str, Any]:
    content = {} if answer == {} else {JSON: {"schema": answer}}
    return {
        "paths": {"/x": {"get": {"responses": {status: {"content": content}}}}},
        "components": {
            "schemas": {
                "Bare": {"type": "object", "additionalProperties": True},
                "Item": {"type": "object", "properties": {"a": {"type": "integer"}}},
                "Holder": {
                    "type": "object",
                    "properties": {"inner": {"anyOf": [{"$ref": "#/components/schemas/Bare"}]}},
                },
                "Loop": {
                    "type": "object",
                    "properties": {"next": {"$ref": "#/components/schemas/Loop"}},
                },
            }
        },
    }


@pytest.mark.parametrize(
    ("answer", "status", "complaint"),
    [
        ({"type": "object", "additionalProperties": True}, "200", "not an object with"),
        ({"$ref": "#/components/schemas/Bare"}, "201", "not an object with"),
        ({"type": "array", "items": {"$ref": "#/components/schemas/Bare"}}, "200", "not an"),
        ({"$ref": "#/components/schemas/Holder"}, "200", ".inner: an object without"),
        ({"anyOf": [{"$ref": "#/components/schemas/Item"}, {"type": "object"}]}, "200", "not an"),
        ({"type": "object", "properties": {"x": {"title": "X"}}}, "200", ".x: a value of any"),
        ({}, "200", "no content declared"),
        ({"$ref": "#/components/schemas/Item"}, "204", "a 204 has no body"),
    ],
)
def test_the_walker_names_what_is_missing(
    answer: dict[str, Any], status: str, complaint: str
) -> None:
    found = problems(_document(answer, status))
    assert len(found) == 1
    assert complaint in found[0]


@pytest.mark.parametrize(
    "answer",
    [
        {"$ref": "#/components/schemas/Item"},
        {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
        {"$ref": "#/components/schemas/Loop"},
        {"type": "object", "properties": {"m": {"type": "object", "description": "free-form"}}},
        {
            "type": "object",
            "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}},
        },
        {"oneOf": [{"$ref": "#/components/schemas/Item"}, {"$ref": "#/components/schemas/Loop"}]},
        {"type": "object", "properties": {"x": {"description": "any JSON: the object before"}}},
    ],
)
def test_the_walker_accepts_real_schemas(answer: dict[str, Any]) -> None:
    assert problems(_document(answer)) == []
