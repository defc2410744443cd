"""What each command prints, drawn from its JSON document: checked without any server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tarif_cli import output
from tarif_cli.backoffice import notifications_lines, unrated_lines, unrated_list_lines, with_unit
from tarif_cli.charging import balances_document, balances_lines, event_document, event_lines
from tarif_cli.operations import migrate_lines, reconcile_lines, sync_lines
from tarif_cli.provision import provision_lines
from tarif_cli.quantities import Measures
from tests.integration.harness import catalog


@pytest.fixture
def measures() -> Measures:
    doc = catalog()
    doc["resources"]["JPY"] = {"kind": "money", "currency": "JPY", "decimals": 0}
    return Measures.from_document(doc)


def test_an_event_drawing_free_seconds_then_money(measures: Measures) -> None:
    answer = pb.EventAnswer(
        result=pb.SUCCESS,
        diameter_result_code=2001,
        event_id="e1",
        granted_units=90,
        cost=pb.Money(currency="EUR", minor_units=12, decimals=2),
        impacts=[
            pb.BalanceImpact(balance_id="bundle", resource="voice_seconds", amount=-60),
            pb.BalanceImpact(balance_id="main", resource="EUR", amount=-12),
        ],
    )
    document = event_document(answer, "voice", measures)
    assert json.loads(output.to_json(document)) == document  # plain JSON types only
    assert document["impacts"] == [
        {"balance_id": "bundle", "resource": "voice_seconds", "amount": "-60", "unit": "second"},
        {"balance_id": "main", "resource": "EUR", "amount": "-0.12", "unit": "EUR"},
    ]
    assert event_lines(document) == [
        "SUCCESS (Diameter 2001)",
        "event     e1",
        "granted   90 s",
        "cost      0.12 EUR",
        "balances      -60 s  bundle (voice_seconds)",
        "          -0.12 EUR  main (EUR)",
    ]


def test_a_refund_moves_money_back_and_a_refusal_says_why(measures: Measures) -> None:
    back = pb.EventAnswer(
        result=pb.SUCCESS, diameter_result_code=2001, event_id="r",
        cost=pb.Money(currency="JPY", minor_units=-300, decimals=0),
        impacts=[pb.BalanceImpact(balance_id="main", resource="JPY", amount=300)],
    )  # fmt: skip
    lines = event_lines(event_document(back, "sms", measures))
    assert lines[3:] == ["cost      -300 JPY", "balances  300 JPY  main (JPY)"]
    refused = pb.EventAnswer(
        result=pb.CREDIT_LIMIT_REACHED, diameter_result_code=4012, event_id="x",
        message="not enough credit",
    )  # fmt: skip
    document = event_document(refused, "sms", measures)
    assert (document["cost"], document["granted_units"], document["unit"]) == (None, "0", "event")
    assert event_lines(document) == [
        "CREDIT_LIMIT_REACHED (Diameter 4012): not enough credit",
        "event     x",
        "granted   0 events",
        "cost      -",
        "balances  -",
    ]


def test_balances_owed_held_and_in_another_unit(measures: Measures) -> None:
    report = pb.BalanceReport(
        result=pb.SUCCESS, diameter_result_code=2001, subscriber="386", account="a1",
        balances=[
            pb.Balance(id="main", resource="EUR", unit="EUR", amount=-123456789, reserved=250,
                       available=0, priority=1),
            pb.Balance(id="gold", resource="gold", unit="gold", amount=7, available=7),
        ],
    )  # fmt: skip
    report.balances[1].valid_to.FromDatetime(datetime(2030, 1, 1, tzinfo=UTC))
    document = balances_document(report, measures)
    assert [(b["amount"], b["reserved"], b["available"]) for b in document["balances"]] == [
        ("-1234567.89", "2.50", "0.00"),
        ("7", "0", "7"),  # not in the catalog: the engine's own unit, nothing invented
    ]
    assert balances_lines(document) == [
        "subscriber 386, account a1",
        "balance  resource           amount  reserved  available  valid from"
        "  valid to                 priority",
        "main     EUR       -1234567.89 EUR  2.50 EUR   0.00 EUR  -"
        "           -                               1",
        "gold     gold               7 gold    0 gold     7 gold  -"
        "           2030-01-01 00:00:00 UTC         0",
    ]
    empty = pb.BalanceReport(result=pb.SUCCESS, subscriber="386", account="a1")
    assert balances_lines(balances_document(empty, measures))[1:] == ["no balances"]


def test_a_table_aligns_amounts_right() -> None:
    assert output.table(["id", "amount"], [["a", "1.00 EUR"], ["bb", "-100.00 EUR"]], [1]) == [
        "id       amount",
        "a      1.00 EUR",
        "bb  -100.00 EUR",
    ]


def test_json_never_carries_a_float() -> None:
    assert output.to_json({"cost": Decimal("0.10")}) == '{\n  "cost": "0.10"\n}'
    assert output.to_json({"at": datetime(2026, 1, 1, tzinfo=UTC)}) == (
        '{\n  "at": "2026-01-01T00:00:00+00:00"\n}'
    )
    with pytest.raises(TypeError, match="float"):
        output.to_json({"cost": 0.1})


def test_moments_are_shown_in_utc() -> None:
    assert output.when("2026-11-18T11:59:00+01:00") == "2026-11-18 10:59:00 UTC"
    assert output.when(datetime(2026, 11, 18, 10, 59)) == "2026-11-18 10:59:00 UTC"
    assert output.when(None) == "-"


def notification(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "id": n, "account_id": "a1", "subscriber": "386", "type": "credit_low",
        "threshold": "t", "resource": "KWD", "unit": "KWD", "direction": "falling",
        "threshold_value": "1.000", "value": "-0.125", "event_time": "2026-11-18T10:59:00+00:00",
        "fired_at": "2026-11-18T10:59:00+00:00",
        "deliveries": [
            {"channel": "email", "recipient": "a@b.c", "status": "dead", "attempts": 5,
             "last_error": "550 no such user", "delivered_at": None},
        ],
        **changes,
    }  # fmt: skip


def test_notifications_in_blocks_with_the_next_page() -> None:
    assert notifications_lines([notification(9), notification(8, deliveries=[])], limit=2) == [
        "#9  2026-11-18 10:59:00 UTC  386 (account a1)  credit_low (t): KWD falling through"
        " 1.000 KWD, now -0.125 KWD",
        "    channel  recipient  status  attempts    detail",
        "    email    a@b.c      dead    5 attempts  550 no such user",
        "#8  2026-11-18 10:59:00 UTC  386 (account a1)  credit_low (t): KWD falling through"
        " 1.000 KWD, now -0.125 KWD",
        "    no deliveries",
        "more: --before 8",
    ]
    assert notifications_lines([notification(9)], limit=2)[-1].startswith("    email")
    assert notifications_lines([]) == ["no notifications"]


def unrated(**changes: Any) -> dict[str, Any]:
    return {
        "id": 7, "event_id": "cdr-1", "reason": "unknown_service", "message": "no texto",
        "subscriber": "386", "service": "texto", "event_time": "2026-11-18T10:59:00+00:00",
        "units": 1048576, "attributes": {"destination": "386"}, "status": "open",
        "original": None, "corrections": 0, "rerate_attempts": 0, "rerate_id": None,
        "result": None, "result_message": None, "cost": None, "currency": None,
        "kept_at": "2026-11-18T11:00:00+00:00", "updated_at": "2026-11-18T11:00:00+00:00",
        **changes,
    }  # fmt: skip


def test_unrated_usage_in_its_service_unit(measures: Measures) -> None:
    unknown = with_unit(unrated(), measures)
    assert unknown["unit"] is None
    assert "units        1048576\n" in "\n".join(unrated_lines(unknown)) + "\n"
    data = with_unit(
        unrated(
            service="data", status="rerated", result="SUCCESS", cost="0.01", currency="EUR",
            rerate_attempts=1, rerate_id="cdr-1", corrections=1,
            original={"subscriber": "386", "service": "texto", "attributes": {}},
        ),
        measures,
    )  # fmt: skip
    assert data["unit"] == "byte"
    assert unrated_lines(data) == [
        "unrated event 7 (rerated)",
        "event id     cdr-1",
        "reason       unknown_service: no texto",
        "subscriber   386",
        "service      data",
        "units        1 MiB",
        "attributes   destination=386",
        "event time   2026-11-18 10:59:00 UTC",
        "received as  386 texto (-)",
        "corrections  1",
        "re-rates     1 (last id cdr-1)",
        "engine said  SUCCESS",
        "cost         0.01 EUR",
        "kept at      2026-11-18 11:00:00 UTC",
        "updated      2026-11-18 11:00:00 UTC",
    ]
    listed = unrated_list_lines([data, with_unit(unrated(id=8), measures)], limit=2)
    assert listed[1].split()[-4:] == ["cdr-1", "SUCCESS", "0.01", "EUR"]
    assert listed[2].split()[-3:] == ["cdr-1", "-", "-"]
    assert listed[-1] == "more: --after 8"
    assert unrated_list_lines([]) == ["no unrated events"]


def test_operations_in_words() -> None:
    assert migrate_lines({"applied": [1, 2]}) == ["applied 2 migrations: 0001, 0002"]
    assert migrate_lines({"applied": []}) == ["the schema is up to date: no migration to apply"]
    assert sync_lines({"applied": 3}) == ["applied 3 pending outbox rows"]
    assert reconcile_lines({"differences": []}) == ["Postgres and Redis agree"]
    found = [{"billing_profile_id": 7, "rated": "2.00", "billed": "1.00"}]
    billing = {"since": "a", "until": "b", "differences": {"usage_vs_items": found}}
    assert reconcile_lines({"differences": [], "billing": billing})[1:] == [
        "billing: 1 differences in usage_vs_items:",
        "  billing_profile_id 7, rated 2.00, billed 1.00",
    ]
    assert reconcile_lines(
        {"differences": [{"account": "1", "field": "s:386", "postgres": None, "redis": "basic"}]}
    )[1:] == ["account  field  postgres  redis", "1        s:386  -         basic"]
    assert provision_lines({"file": "f.yaml", "catalog_version": 0, "accounts": 2}) == [
        "provisioned f.yaml: no catalog, 2 accounts"
    ]
