"""The one table from business result to Diameter Result-Code, gRPC status and HTTP status.

`Result` values and names equal the wire enum `tarif.charging.v1.ResultCode` for the business
outcomes (clients and the admin API compare result names); the negative ones never reach an
answer's `result` field, they become transport errors. `INVALID_REQUEST` is the per-event answer
inside a `ChargeEvents` batch; a malformed request as a whole is `MALFORMED_REQUEST`, gRPC
INVALID_ARGUMENT.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Result(IntEnum):
    SUCCESS = 1
    CREDIT_LIMIT_REACHED = 2
    USER_UNKNOWN = 3
    RATING_FAILED = 4
    SESSION_UNKNOWN = 5
    END_USER_SERVICE_DENIED = 6
    CREDIT_CONTROL_NOT_APPLICABLE = 7
    EVENT_UNKNOWN = 8
    REQUEST_OUT_OF_ORDER = 9
    INVALID_REQUEST = 10  # one event of a batch failed the input checks (its slot says which)
    IDEMPOTENCY_CONFLICT = 11  # the request's id was already used for a different request
    # Transport-level outcomes: not an answer's result, a gRPC status / HTTP error instead.
    MALFORMED_REQUEST = -1
    UNAVAILABLE = -2
    UNABLE_TO_COMPLY = -3
    NOT_FOUND = -4
    CONFLICT = -5


@dataclass(frozen=True, slots=True)
class Mapping:
    diameter: int
    grpc_status: str  # grpc.StatusCode name; OK means "a result code in an OK answer"
    http_status: int


RESULTS: dict[Result, Mapping] = {
    Result.SUCCESS: Mapping(2001, "OK", 200),
    Result.CREDIT_LIMIT_REACHED: Mapping(4012, "OK", 402),
    Result.USER_UNKNOWN: Mapping(5030, "OK", 404),
    Result.RATING_FAILED: Mapping(5031, "OK", 422),
    Result.SESSION_UNKNOWN: Mapping(5002, "OK", 404),
    Result.END_USER_SERVICE_DENIED: Mapping(4010, "OK", 403),
    Result.CREDIT_CONTROL_NOT_APPLICABLE: Mapping(4011, "OK", 422),
    Result.EVENT_UNKNOWN: Mapping(5012, "OK", 404),
    Result.REQUEST_OUT_OF_ORDER: Mapping(5012, "OK", 409),
    Result.INVALID_REQUEST: Mapping(5004, "OK", 422),
    Result.IDEMPOTENCY_CONFLICT: Mapping(5012, "OK", 409),
    Result.MALFORMED_REQUEST: Mapping(5004, "INVALID_ARGUMENT", 422),
    Result.UNAVAILABLE: Mapping(3002, "UNAVAILABLE", 503),
    Result.UNABLE_TO_COMPLY: Mapping(5012, "INTERNAL", 500),
    Result.NOT_FOUND: Mapping(5012, "NOT_FOUND", 404),
    Result.CONFLICT: Mapping(5012, "FAILED_PRECONDITION", 409),
}


def diameter_code(result: Result) -> int:
    return RESULTS[result].diameter
