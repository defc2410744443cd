"""`Result` and the wire enum agree: clients and the admin API compare result names."""

from __future__ import annotations

from tarif.charging.v1 import charging_pb2 as pb
from tarif_common.errors import CatalogError, InvalidRequest, ProvisioningError
from tarif_common.results import RESULTS, Result


def test_business_results_are_the_wire_enum_by_name_and_number() -> None:
    business = {r.name: int(r) for r in Result if r > 0}
    wire = {name: number for name, number in pb.ResultCode.items() if number > 0}
    assert business == wire
    assert (business["INVALID_REQUEST"], business["IDEMPOTENCY_CONFLICT"]) == (10, 11)


def test_business_results_are_ok_answers_and_transport_ones_are_not() -> None:
    for result, mapping in RESULTS.items():
        assert (mapping.grpc_status == "OK") == (result > 0), result
    assert RESULTS[Result.INVALID_REQUEST].diameter == 5004
    assert (
        RESULTS[Result.IDEMPOTENCY_CONFLICT].diameter,
        RESULTS[Result.IDEMPOTENCY_CONFLICT].http_status,
    ) == (5012, 409)


def test_malformed_input_is_still_invalid_argument() -> None:
    for error in (InvalidRequest("units", "x"), CatalogError("a", "b"), ProvisioningError()):
        assert RESULTS[error.result].grpc_status == "INVALID_ARGUMENT"
