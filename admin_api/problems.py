"""Errors as `application/problem+json` (RFC 9457), the same shape from every endpoint.

`{"type", "title", "status", "detail", "field"?, "errors"?, "result"?, "state"?}`: validation
errors name the field (`body.account.email`, `query.limit`), domain errors carry the message of
the TarifError. An operation the engine refused (`Refused`) names the engine's `result` and, in
`state`, what the request left recorded (e.g. an adjustment or purchases kept as `refused`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from tarif_common.errors import InvalidRequest, Refused, TarifError
from tarif_common.results import RESULTS
from tarif_jobs.process_now import SimulatedTimeRefused

MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
    result: str | None = Field(
        default=None, description="the engine refused: its result (e.g. CREDIT_LIMIT_REACHED)"
    )
    state: dict[str, Any] | None = Field(
        default=None,
        description="the engine refused: what the request left recorded, and in which status",
    )


def problem(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body = Problem(status=status, title=title, detail=detail, **extra)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=MEDIA_TYPE
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    for error in exc.errors():
        if error["type"] == "json_invalid":  # not JSON at all: nothing to validate
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            position = error["loc"][-1]
            return malformed_body(f"the body is not JSON: {reason} (at byte {position})")
    errors = [
        {"field": _location(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    return problem(
        422,
        "Invalid request",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        errors=errors,
    )


async def _tarif_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TarifError)
    status = RESULTS[exc.result].http_status
    field = exc.field if isinstance(exc, InvalidRequest) else None
    title = (type(exc).__doc__ or type(exc).__name__).strip().rstrip(".")
    if isinstance(exc, Refused):
        return problem(status, title, exc.message, result=exc.result.name, state=exc.state or None)
    return problem(status, title, exc.message, field=field)


def malformed_body(detail: str) -> JSONResponse:
    """400: the body cannot be read as JSON (a 422 is for JSON that is not valid input)."""
    return problem(400, "Malformed request body", detail, field="body")


def _unparsable(cause: BaseException) -> str:
    if isinstance(cause, RecursionError):
        return "the JSON is nested too deep"
    if isinstance(cause, UnicodeError):
        return "the body is not UTF-8 text"
    return "the body cannot be parsed"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI's body parsing failed (e.g. `json.loads` gave up on the nesting); it says only
        # "There was an error parsing the body" and keeps the reason as the cause
        return malformed_body(_unparsable(exc.__cause__))
    response = problem(exc.status_code, str(exc.detail), "")
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _simulated_time(request: Request, exc: Exception) -> JSONResponse:
    return problem(403, "Simulated time refused in production", str(exc), field="process_now")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(SimulatedTimeRefused, _simulated_time)
    app.add_exception_handler(TarifError, _tarif_error)
    app.add_exception_handler(HTTPException, _http_error)


# For the OpenAPI document: what every endpoint may answer besides its success.
def _documented(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        "model": Problem,  # puts Problem in the components
        "description": description,
        "content": {MEDIA_TYPE: {"schema": schema}},
    }


COMMON: dict[int | str, dict[str, Any]] = {
    401: _documented("no or bad API key"),
    403: _documented("the key's role may not do this"),
    404: _documented("no such object"),
    409: _documented("the object's state does not allow it"),
    422: _documented("invalid input; `field` names it"),
    503: _documented("the engine or a store is unavailable; retry"),
}

# Operations the engine may refuse for want of money (its CREDIT_LIMIT_REACHED); its other
# refusals map to statuses COMMON documents already.
REFUSED: dict[int | str, dict[str, Any]] = {
    402: _documented("the engine refused: the balance cannot pay; `result` and `state` say more"),
}
