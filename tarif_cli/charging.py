"""`tarif event` and `tarif balances`: one call to a running engine, the answer shown with money
in its currency and units in their unit.

The engine answers in integers of each resource's smallest unit; the decimals and units come
from the catalog it runs (read from Redis before the call, so an unreadable catalog stops the
command before anything is charged). A `Money` carries its own decimals.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC
from typing import TYPE_CHECKING, Any

from tarif_cli import output
from tarif_cli.connections import redis_url, required_measures, run
from tarif_cli.quantities import Measure, Measures
from tarif_common.settings import Settings

if TYPE_CHECKING:
    from tarif.charging.v1 import charging_pb2 as pb


def money(value: pb.Money) -> dict[str, str]:
    """A `Money` as scripts read it: `{"amount": "-0.36", "currency": "EUR"}`."""
    return {
        "amount": Measure(value.currency, value.decimals).json(value.minor_units),
        "currency": value.currency,
    }


def _result(answer: Any) -> dict[str, Any]:
    from tarif.charging.v1 import charging_pb2 as pb

    return {
        "result": pb.ResultCode.Name(answer.result),
        "diameter_result_code": answer.diameter_result_code,
    }


def _stamp(answer: Any, name: str) -> str | None:
    return getattr(answer, name).ToDatetime(UTC).isoformat() if answer.HasField(name) else None


def event_document(answer: pb.EventAnswer, service: str, measures: Measures) -> dict[str, Any]:
    units = measures.service(service)
    return {
        **_result(answer),
        "event_id": answer.event_id,
        "granted_units": units.json(answer.granted_units),
        "unit": units.unit,
        "cost": money(answer.cost) if answer.HasField("cost") else None,
        "impacts": [
            {
                "balance_id": impact.balance_id,
                "resource": impact.resource,
                "amount": measures.resource(impact.resource).json(impact.amount),
                "unit": measures.resource(impact.resource).unit,
            }
            for impact in answer.impacts
        ],
        "message": answer.message,
    }


def _headline(document: dict[str, Any]) -> str:
    message = f": {document['message']}" if document["message"] else ""
    return f"{document['result']} (Diameter {document['diameter_result_code']}){message}"


def event_lines(document: dict[str, Any]) -> list[str]:
    """The outcome, then what was granted and charged, and each balance's movement."""
    cost = document["cost"]
    moved = [output.quantity(i["amount"], i["unit"]) for i in document["impacts"]]
    width = max((len(m) for m in moved), default=0)
    movements = [
        (f"{m.rjust(width)}  {i['balance_id']} ({i['resource']})")
        for m, i in zip(moved, document["impacts"], strict=True)
    ]
    pairs = [
        ("event", document["event_id"]),
        ("granted", output.quantity(document["granted_units"], document["unit"])),
        ("cost", output.quantity(cost["amount"], cost["currency"]) if cost else output.NONE),
        *(("balances" if n == 0 else "", m) for n, m in enumerate(movements or [output.NONE])),
    ]
    return [_headline(document), *output.fields(pairs)]


def balances_document(report: pb.BalanceReport, measures: Measures) -> dict[str, Any]:
    balances = []
    for b in report.balances:
        measure = measures.resource(b.resource, b.unit)
        balances.append(
            {
                "id": b.id,
                "resource": b.resource,
                "unit": measure.unit,
                "amount": measure.json(b.amount),
                "reserved": measure.json(b.reserved),
                "available": measure.json(b.available),
                "valid_from": _stamp(b, "valid_from"),
                "valid_to": _stamp(b, "valid_to"),
                "priority": b.priority,
            }
        )
    return {
        **_result(report),
        "subscriber": report.subscriber,
        "account": report.account,
        "balances": balances,
        "message": report.message,
    }


def balances_lines(document: dict[str, Any]) -> list[str]:
    if document["result"] != "SUCCESS":
        return [_headline(document)]
    lines = [f"subscriber {document['subscriber']}, account {document['account']}"]
    if not document["balances"]:
        return [*lines, "no balances"]
    rows = [
        [
            b["id"],
            b["resource"],
            output.quantity(b["amount"], b["unit"]),
            output.quantity(b["reserved"], b["unit"]),
            output.quantity(b["available"], b["unit"]),
            output.when(b["valid_from"]),
            output.when(b["valid_to"]),
            str(b["priority"]),
        ]
        for b in document["balances"]
    ]
    headers = ["balance", "resource", "amount", "reserved", "available", "valid from", "valid to"]
    return lines + output.table([*headers, "priority"], rows, right=[2, 3, 4, 7])


async def _call(settings: Settings, method: str, request: Any) -> tuple[Any, Measures]:
    import grpc

    from tarif.charging.v1 import charging_pb2_grpc

    measures = await required_measures(redis_url(settings))
    async with grpc.aio.insecure_channel(settings.grpc_addr) as channel:
        stub = charging_pb2_grpc.ChargingServiceStub(channel)
        return await getattr(stub, method)(request, timeout=5), measures


def _engine_call(settings: Settings, method: str, request: Any) -> tuple[Any, Measures] | None:
    """The engine's answer; None (said on stderr) if the call failed."""
    import grpc

    try:
        answer: tuple[Any, Measures] = run(_call(settings, method, request))
    except grpc.aio.AioRpcError as exc:
        print(
            f"tarif: engine at {settings.grpc_addr}: {exc.code().name}: {exc.details()}",
            file=sys.stderr,
        )
        return None
    return answer


def cmd_event(settings: Settings, args: argparse.Namespace) -> int:
    from tarif.charging.v1 import charging_pb2 as pb

    request = pb.EventRequest(
        subscriber=args.subscriber,
        service=args.service,
        event_id=args.event_id or uuid.uuid4().hex,
        units=args.units,
        attributes=dict(args.attr),
    )  # no event_time: the engine's "now", so a retry with the same --event-id replays
    called = _engine_call(settings, "ChargeEvent", request)
    if called is None:
        return 1
    answer, measures = called
    output.emit(event_document(answer, args.service, measures), event_lines, args.json)
    return 0


def cmd_balances(settings: Settings, args: argparse.Namespace) -> int:
    from tarif.charging.v1 import charging_pb2 as pb

    called = _engine_call(settings, "GetBalances", pb.BalanceQuery(subscriber=args.subscriber))
    if called is None:
        return 1
    report, measures = called
    output.emit(balances_document(report, measures), balances_lines, args.json)
    return 0
