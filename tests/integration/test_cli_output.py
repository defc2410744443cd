"""The `tarif` command against real services: money as money, units in their unit, lines and
tables for people, and with `--json` one document whose amounts are exact decimal strings."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from redis.asyncio import Redis

from tarif_billing.reconcile import CHECKS
from tarif_cli import main as cli
from tarif_common import keys
from tarif_notifications.model import Notification, Recipient
from tarif_notifications.store import add_notifications
from tests.integration.harness import Engine, account, catalog, eur

Run = Callable[..., Awaitable[tuple[int, str, str]]]

POSTPAID = "38640000901"
YEN = "38640000902"
DINAR = "38640000903"


@pytest.fixture
def tarif(
    engine: Engine,
    redis_url: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    """`tarif ARGS...` as a user runs it, on the test's Redis, Postgres and engine: returns the
    exit code, stdout and stderr (which also gets the logs of the engine running in this
    process, so tests look for the command's own `tarif:` lines there)."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TARIF_GRPC_ADDR", f"127.0.0.1:{engine.app.grpc_port}")
    monkeypatch.setenv("TARIF_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TARIF_ENVIRONMENT", "test")  # simulated "process now" times allowed
    engine.clock.now = time.time()  # the CLI stamps events with the real time
    capsys.readouterr()

    async def run(*argv: str) -> tuple[int, str, str]:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            code = await asyncio.to_thread(cli.main, list(argv))
        except SystemExit as exc:  # argparse refused the arguments, as the real command exits
            code = int(exc.code or 0)
        finally:  # the command sets up logging for its process; give pytest its own back
            root.handlers[:], root.level = handlers, level
        out, err = capsys.readouterr()
        return code, out, err

    return run


def currencies_catalog() -> dict[str, Any]:
    """The demo catalog plus SMS priced in yen (0 decimals) and Kuwaiti dinars (3 decimals)."""
    doc = catalog()
    doc["resources"]["JPY"] = {"kind": "money", "currency": "JPY", "decimals": 0}
    doc["resources"]["KWD"] = {"kind": "money", "currency": "KWD", "decimals": 3}
    for name, currency, price in (("yen", "JPY", "3"), ("dinar", "KWD", "0.125")):
        doc["tariffs"][f"sms-{name}"] = {
            "service": "sms",
            "currency": currency,
            "rates": [{"prefix": "", "price": price, "per": 1}],
        }
        doc["plans"][name] = {"tariffs": {"sms": f"sms-{name}"}}
    return doc


async def provision_showcase(engine: Engine) -> None:
    """A postpaid account owing nothing yet, with 1.5 MiB of data and 100 minutes that start in
    2030 (shown, not drawn); prepaid accounts in yen and dinars."""
    postpaid = account(
        "p1",
        POSTPAID,
        eur("0", credit_limit="50.00"),
        {"id": "data", "resource": "data_bytes", "amount": 1572864},
        {
            "id": "minutes",
            "resource": "voice_seconds",
            "amount": 6000,
            "valid_from": "2030-01-01T00:00:00Z",
            "valid_to": "2031-01-01T00:00:00Z",
        },
        payment_type="postpaid",
    )
    yen = account("y1", YEN, {"id": "main", "resource": "JPY", "amount": "1000"}, plan="yen")
    dinar = account(
        "k1", DINAR, {"id": "main", "resource": "KWD", "amount": "10.000"}, plan="dinar"
    )
    await engine.provision(postpaid, yen, dinar, catalog_doc=currencies_catalog())


ITALY = ["--attr", "destination=393331234567"]


async def test_event_prints_the_cost_and_the_movements_as_money(engine: Engine, tarif: Run) -> None:
    await provision_showcase(engine)
    code, out, err = await tarif(
        "event", POSTPAID, "voice", "--units", "180", *ITALY, "--event-id", "c1"
    )
    assert code == 0
    assert "tarif:" not in err
    assert out == (
        "SUCCESS (Diameter 2001)\n"
        "event     c1\n"
        "granted   180 s\n"
        "cost      0.36 EUR\n"
        "balances  -0.36 EUR  main (EUR)\n"
    )
    code, out, _ = await tarif(
        "event", POSTPAID, "voice", "--units", "60", *ITALY, "--event-id", "c2", "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "result": "SUCCESS",
        "diameter_result_code": 2001,
        "event_id": "c2",
        "granted_units": "60",
        "unit": "second",
        "cost": {"amount": "0.12", "currency": "EUR"},
        "impacts": [{"balance_id": "main", "resource": "EUR", "amount": "-0.12", "unit": "EUR"}],
        "message": "",
    }
    assert await engine.balance(POSTPAID) == -48  # both charged once, in cents


async def test_event_in_currencies_of_zero_and_three_decimals(engine: Engine, tarif: Run) -> None:
    await provision_showcase(engine)
    sms = ["sms", "--attr", "destination=38641000000"]
    _, out, _ = await tarif("event", YEN, *sms, "--units", "1", "--event-id", "y")
    assert "cost      3 JPY\n" in out
    assert "balances  -3 JPY  main (JPY)\n" in out
    _, out, _ = await tarif("event", DINAR, *sms, "--units", "1", "--event-id", "k", "--json")
    document = json.loads(out)
    assert document["cost"] == {"amount": "0.125", "currency": "KWD"}
    assert document["impacts"][0]["amount"] == "-0.125"
    assert (document["granted_units"], document["unit"]) == ("1", "event")


async def test_a_refused_event_says_why(engine: Engine, tarif: Run) -> None:
    await provision_showcase(engine)
    code, out, _ = await tarif(
        "event", "38699999999", "sms", "--attr", "destination=1", "--event-id", "u"
    )
    assert code == 0  # the engine answered: a business outcome, not a failure of the command
    assert out.startswith("USER_UNKNOWN (Diameter 5030): ")
    assert "cost      -\n" in out
    code, out, _ = await tarif("event", "38699999999", "sms", "--event-id", "u", "--json")
    document = json.loads(out)
    assert (document["result"], document["cost"], document["impacts"]) == (
        "USER_UNKNOWN",
        None,
        [],
    )


async def test_balances_as_a_table_and_as_json(engine: Engine, tarif: Run) -> None:
    await provision_showcase(engine)
    await tarif("event", POSTPAID, "voice", "--units", "180", *ITALY, "--event-id", "b1")
    code, out, err = await tarif("balances", POSTPAID)
    assert code == 0
    assert "tarif:" not in err
    assert out == (
        "subscriber 38640000901, account p1\n"
        "balance  resource          amount  reserved  available  valid from"
        "               valid to                 priority\n"
        "main     EUR            -0.36 EUR  0.00 EUR  49.64 EUR  -"
        "                        -                               0\n"
        "data     data_bytes       1.5 MiB       0 B    1.5 MiB  -"
        "                        -                               0\n"
        "minutes  voice_seconds     6000 s       0 s     6000 s  2030-01-01 00:00:00 UTC"
        "  2031-01-01 00:00:00 UTC         0\n"
    )
    code, out, _ = await tarif("balances", POSTPAID, "--json")
    assert code == 0
    document = json.loads(out)
    assert (document["result"], document["account"], document["message"]) == ("SUCCESS", "p1", "")
    assert document["balances"] == [
        {
            "id": "main", "resource": "EUR", "unit": "EUR", "amount": "-0.36",
            "reserved": "0.00", "available": "49.64", "valid_from": None, "valid_to": None,
            "priority": 0,
        },
        {
            "id": "data", "resource": "data_bytes", "unit": "byte", "amount": "1572864",
            "reserved": "0", "available": "1572864", "valid_from": None, "valid_to": None,
            "priority": 0,
        },
        {
            "id": "minutes", "resource": "voice_seconds", "unit": "second", "amount": "6000",
            "reserved": "0", "available": "6000", "valid_from": "2030-01-01T00:00:00+00:00",
            "valid_to": "2031-01-01T00:00:00+00:00", "priority": 0,
        },
    ]  # fmt: skip


async def test_balances_in_yen_and_dinars(engine: Engine, tarif: Run) -> None:
    await provision_showcase(engine)
    _, out, _ = await tarif("balances", YEN)
    assert "main     JPY       1000 JPY" in out
    _, out, _ = await tarif("balances", DINAR, "--json")
    (balance,) = json.loads(out)["balances"]
    assert (balance["amount"], balance["unit"]) == ("10.000", "KWD")


async def test_an_unknown_subscriber_has_no_balances(engine: Engine, tarif: Run) -> None:
    await provision_showcase(engine)
    code, out, _ = await tarif("balances", "38699999999")
    assert (code, out) == (0, "USER_UNKNOWN (Diameter 5030): unknown subscriber\n")


async def test_without_the_catalog_nothing_is_charged_and_no_figure_is_guessed(
    engine: Engine, redis: Redis, redis_url: str, tarif: Run
) -> None:
    await provision_showcase(engine)
    await redis.delete(keys.CATALOG)  # the engine keeps running on the catalog it compiled
    code, out, err = await tarif("event", POSTPAID, "voice", "--units", "60", *ITALY)
    assert (code, out) == (2, "")
    assert err.startswith(f"tarif: no catalog could be read from {redis_url}, so amounts")
    assert await engine.balance(POSTPAID) == 0  # the event was never sent
    code, out, err = await tarif("balances", POSTPAID, "--json")
    assert (code, out) == (2, "")
    assert "set REDIS_URL" in err


async def test_an_engine_that_does_not_answer_is_a_failure_said_plainly(
    engine: Engine, tarif: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    await provision_showcase(engine)
    from tarif_common.embedded import free_port

    monkeypatch.setenv("TARIF_GRPC_ADDR", f"127.0.0.1:{free_port()}")
    code, out, err = await tarif("balances", POSTPAID)
    assert (code, out) == (1, "")
    assert err.startswith("tarif: engine at 127.0.0.1:")
    assert "UNAVAILABLE" in err


def notification(n: int, **changes: Any) -> Notification:
    at = datetime(2026, 11, 18, 10, 59, n, tzinfo=UTC)
    values: dict[str, Any] = {
        "account_id": "p1", "source_id": f"e:{n}|credit-80", "subscriber": POSTPAID,
        "type": "credit_low", "threshold_id": "credit-80", "resource": "EUR",
        "direction": "falling", "threshold_level": 200, "value": -36, "decimals": 2,
        "unit": "EUR", "event_time": at, "fired_at": at, "channels": ("email", "sms"),
    }  # fmt: skip
    return Notification(**(values | changes))


async def test_notifications_with_their_deliveries(pg: asyncpg.Pool, tarif: Run) -> None:
    async with pg.acquire() as conn:
        await add_notifications(
            conn,
            [
                (
                    notification(1),
                    [Recipient("email", "ana@example.com"), Recipient("sms", "+38640111222")],
                ),
                (
                    notification(
                        2, resource="data_bytes", unit="byte", decimals=0, type="data_low",
                        threshold_id="data-1", threshold_level=1048576, value=524288,
                    ),
                    [Recipient("webhook", "", skip="no webhook configured")],
                ),
            ],
        )  # fmt: skip
    code, out, err = await tarif("notifications", POSTPAID)
    assert code == 0
    assert "tarif:" not in err
    lines = out.splitlines()
    assert lines[0] == (
        "#2  2026-11-18 10:59:02 UTC  38640000901 (account p1)  data_low (data-1): data_bytes"
        " falling through 1 MiB, now 512 KiB"
    )
    assert lines[1].split() == ["channel", "recipient", "status", "attempts", "detail"]
    assert lines[2].split()[:2] == ["webhook", "-"]
    assert lines[3] == (
        "#1  2026-11-18 10:59:01 UTC  38640000901 (account p1)  credit_low (credit-80): EUR falling"
        " through 2.00 EUR, now -0.36 EUR"
    )
    assert lines[5].split() == ["email", "ana@example.com", "pending", "0", "attempts", "-"]
    assert lines[6].split() == ["sms", "+38640111222", "pending", "0", "attempts", "-"]
    assert len(lines) == 7

    code, out, _ = await tarif("notifications", POSTPAID, "--limit", "1")
    assert out.splitlines()[-1] == "more: --before 2"
    code, out, _ = await tarif("notifications", "p1", "--account", "--before", "2", "--json")
    (listed,) = json.loads(out)
    assert (listed["id"], listed["threshold_value"], listed["value"], listed["unit"]) == (
        1,
        "2.00",
        "-0.36",
        "EUR",
    )
    assert [d["channel"] for d in listed["deliveries"]] == ["email", "sms"]
    _, out, _ = await tarif("notifications", "38699999999")
    assert out == "no notifications\n"


async def test_unrated_usage_listed_corrected_and_re_rated(
    engine: Engine, pg: asyncpg.Pool, tarif: Run
) -> None:
    await engine.provision(account("r1", "38640000911", eur("1.00")))
    wrong = ["--attr", "destination=393331234567", "--event-id", "cdr-1", "--units", "90"]
    code, out, _ = await tarif("event", "38699999911", "voice", *wrong)
    assert out.startswith("USER_UNKNOWN")
    assert await engine.ingest_unrated(pg) == 1

    code, out, err = await tarif("unrated", "list")
    assert code == 0
    assert "tarif:" not in err
    header, row = out.splitlines()
    assert header.split() == [
        "id", "kept", "at", "status", "reason", "subscriber", "service", "units", "event", "id",
        "result", "cost",
    ]  # fmt: skip
    cells = row.split()
    unrated_id = cells[0]
    assert cells[4:] == [
        "open",
        "unknown_subscriber",
        "38699999911",
        "voice",
        "90",
        "s",
        "cdr-1",
        "-",
        "-",
    ]

    code, out, _ = await tarif("unrated", "list", "--json")
    (listed,) = json.loads(out)
    assert (listed["units"], listed["unit"], listed["cost"]) == (90, "second", None)

    code, out, _ = await tarif("unrated", "correct", unrated_id, "--subscriber", "38640000911")
    assert out.splitlines()[0] == f"unrated event {unrated_id} (corrected)"
    assert "received as  38699999911 voice (destination=393331234567)\n" in out
    assert "units        90 s\n" in out

    code, out, _ = await tarif("unrated", "rerate", unrated_id)
    assert code == 0
    assert out.splitlines()[0] == f"unrated event {unrated_id} (rerated)"
    assert "engine said  SUCCESS\n" in out
    assert "cost         0.24 EUR\n" in out  # 90 s to Italy: two minutes started, 0.12 each
    code, out, _ = await tarif("unrated", "show", unrated_id, "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["cost"], shown["currency"]) == ("rerated", "0.24", "EUR")
    assert await engine.balance("38640000911") == 76

    _, out, _ = await tarif("unrated", "list", "--status", "open")
    assert out == "no unrated events\n"
    code, _, err = await tarif("unrated", "correct", unrated_id, "--attr", "novalue")
    assert code == 2
    assert "'novalue' is not name=value" in err


async def test_provision_migrate_key_sync_and_reconcile(
    redis: Redis, pg: asyncpg.Pool, tarif: Run, tmp_path: Path
) -> None:
    async with pg.acquire() as conn:  # the migration's seed rows (pg empties every table)
        await conn.execute("INSERT INTO customer_types (name) VALUES ('residential'), ('business')")
    code, out, err = await tarif("provision", str(cli.DEMO))
    assert code == 0
    assert "tarif:" not in err
    assert out == (  # version 1 is the catalog the test engine started with
        f"provisioned {cli.DEMO}: catalog version 2, 0 accounts, 0 sharing groups, 4 customers\n"
    )
    doc = {
        "accounts": [
            account(
                "f1",
                "38640000921",
                eur("1.00"),
                contacts=[{"tag": "billing", "email": "f@example.com"}],
            )
        ]
    }
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out, _ = await tarif("provision", str(path), "--json")
    assert json.loads(out) == {
        "file": str(path),
        "catalog_version": 0,
        "accounts": 1,
        "sharing_groups": 0,
        "contacts": 1,
    }

    assert (await tarif("migrate"))[:2] == (0, "the schema is up to date: no migration to apply\n")
    code, out, _ = await tarif("migrate", "--json")
    assert json.loads(out) == {"applied": []}

    code, out, _ = await tarif("admin", "create-key", "--role", "operator")
    first, key, prefix = out.splitlines()
    assert first == "a new API key with role operator (shown once, keep it now):"
    assert key.strip().startswith(prefix.split()[1] + "_")
    code, out, _ = await tarif("admin", "create-key", "--role", "auditor", "--json")
    created = json.loads(out)
    assert created["role"] == "auditor"
    assert created["key"].startswith(created["prefix"] + "_")

    adds_up = (
        "billing adds up from 1970-01-01T00:00:00+00:00 to 9999-01-01T00:00:00+00:00: "
        "rated usage = bills = invoices = payments, journal balanced"
    )
    no_billing_differences = {
        "since": "1970-01-01T00:00:00+00:00",
        "until": "9999-01-01T00:00:00+00:00",
        "differences": {check: [] for check in CHECKS},
    }
    assert (await tarif("reconcile"))[:2] == (0, f"Postgres and Redis agree\n{adds_up}\n")
    ana = keys.account(int(await redis.get(keys.locator("1001"))), "1001")
    await redis.hset(ana, "st", "suspended")
    code, out, _ = await tarif("reconcile")
    assert code == 1
    assert out.splitlines() == [
        "1 differences between Postgres and Redis (`tarif sync` repairs them):",
        "account  field  postgres  redis",
        "1001     st     active    suspended",
        adds_up,
    ]
    code, out, _ = await tarif("reconcile", "--json")
    assert code == 1
    assert json.loads(out) == {
        "differences": [
            {"account": "1001", "field": "st", "postgres": "active", "redis": "suspended"}
        ],
        "billing": no_billing_differences,
    }
    assert (await tarif("sync"))[:2] == (
        0,
        "Redis rebuilt from Postgres: the catalog, 4 accounts, 0 sharing groups\n",
    )
    assert (await tarif("sync", "--pending", "--json"))[:2] == (0, '{\n  "applied": 0\n}\n')
    code, out, _ = await tarif("reconcile", "--json")
    assert (code, json.loads(out)) == (0, {"differences": [], "billing": no_billing_differences})
