"""Provisioning: everything validated before anything is written; the CLI loads a file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from redis.asyncio import Redis

from tarif_balances.provisioning import Provisioner
from tarif_cli import main as cli
from tarif_cli.provision import provision
from tarif_common import keys
from tarif_common.errors import CatalogError, ProvisioningError
from tarif_common.settings import Settings
from tests.integration.harness import account, catalog, eur

BAD = {
    "float money": ({"amount": 10.5}, "never floats"),
    "too many decimals": ({"amount": "1.005"}, "more than 2 decimals"),
    "unknown resource": ({"resource": "GOLD"}, "unknown resource"),
    "credit limit on prepaid": ({"credit_limit": "10"}, "only on a postpaid"),
    "bad id": ({"id": "a:b"}, "balances"),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_balance_writes_nothing(redis: Redis, case: str) -> None:
    change, message = BAD[case]
    good = account("g1", "38640000071", eur("1.00"))
    bad = account("g2", "38640000072", {**eur("1.00"), **change})
    with pytest.raises(ProvisioningError, match=message):
        await Provisioner(redis, 4).apply({"catalog": catalog(), "accounts": [good, bad]})
    assert await redis.keys("*") == []


async def test_bad_catalog_and_references_write_nothing(redis: Redis) -> None:
    broken = catalog()
    broken["tariffs"]["sms-std"]["rates"][0]["price"] = 0.05
    with pytest.raises(CatalogError, match="price"):
        await Provisioner(redis, 4).apply({"catalog": broken, "accounts": []})
    unknown_plan: dict[str, Any] = {**account("g3", "38640000073"), "plan": "gold"}
    with pytest.raises(ProvisioningError, match="unknown plan"):
        await Provisioner(redis, 4).apply({"catalog": catalog(), "accounts": [unknown_plan]})
    twice = [account("g4", "38640000074"), account("g5", "38640000074")]
    with pytest.raises(ProvisioningError, match="used twice"):
        await Provisioner(redis, 4).apply({"catalog": catalog(), "accounts": twice})
    assert await redis.keys("*") == []


async def test_an_identifier_owned_by_another_account_is_refused(redis: Redis) -> None:
    provisioner = Provisioner(redis, 4)
    await provisioner.apply({"catalog": catalog(), "accounts": [account("h1", "38640000075")]})
    with pytest.raises(ProvisioningError, match="belongs to account h1"):
        await provisioner.apply({"accounts": [account("h2", "38640000075")]})
    assert await redis.exists(keys.account(keys.partition_of("h2", 4), "h2")) == 0


async def test_reprovisioning_keeps_partition_and_removes_what_left(redis: Redis) -> None:
    provisioner = Provisioner(redis, 4)
    first = account(
        "k1", "38640000076", eur("1.00"), {"id": "old", "resource": "sms_count", "amount": 5}
    )
    await provisioner.apply({"catalog": catalog(), "accounts": [first]})
    await provisioner.apply({"accounts": [account("k1", "38640000077", eur("2.00"))]})
    key = keys.account(keys.partition_of("k1", 4), "k1")
    fields = {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}
    assert fields == {
        "st": "active",
        "pt": "prepaid",
        "s:38640000077": "basic",
        "b:main": "EUR|0|0|0|0",
        "a:main": "200",
    }
    assert await redis.get(keys.route("38640000076")) is None
    route = await redis.get(keys.route("38640000077"))
    assert route == f"{keys.partition_of('k1', 4)}|k1|basic||".encode()


async def test_cli_provision_onboards_the_demo_customers_once(
    redis_url: str,
    database_url: str,
    pg: asyncpg.Pool,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    async with pg.acquire() as conn:  # the migration's seed rows (pg empties every table)
        await conn.execute("INSERT INTO customer_types (name) VALUES ('residential'), ('business')")
    demo = str(cli.DEMO)
    assert await asyncio.to_thread(cli.main, ["provision", demo, "--json"]) == 0
    assert '"customers": 4' in capsys.readouterr().out
    assert await redis.get(keys.route("38640111222")) is not None
    assert await redis.get(keys.CATALOG_VERSION) == b"1"
    async with pg.acquire() as conn:
        rows = await conn.fetch("SELECT account_id, customer_type FROM customers ORDER BY 1")
        assert [tuple(r) for r in rows] == [
            ("1001", "residential"), ("1002", "residential"), ("1003", "business"),
            ("1004", "residential"),
        ]  # fmt: skip
    located = int(await redis.get(keys.locator("1003")))
    held = await redis.hgetall(keys.account(located, "1003"))
    assert held[b"pt"] == b"postpaid"
    assert held[b"b:main"].endswith(b"|-5000")  # the credit limit is the balance's floor
    dana = keys.account(int(await redis.get(keys.locator("1004"))), "1004")
    assert await redis.hget(dana, "a:main") == b"1281"  # plan smart's bundle paid: 30 - 17.19
    ana = keys.account(int(await redis.get(keys.locator("1001"))), "1001")
    await redis.hset(ana, "a:main", 1)  # as if Ana had spent almost everything
    assert await asyncio.to_thread(cli.main, ["provision", demo]) == 0  # again: no change
    assert await redis.hget(ana, "a:main") == b"1"
    async with pg.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM customers") == 4


async def test_contacts_are_validated_and_written_to_postgres(
    redis_url: str, database_url: str, pg: asyncpg.Pool, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_url, database_url=database_url)
    contacts = [
        {"tag": "billing", "email": "ana@example.com"},
        {"tag": "mobile", "phone": "+38640111222"},
    ]
    doc = {"catalog": catalog(), "accounts": [account("c1", "38640000121", contacts=contacts)]}
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc))
    done = await provision(settings, path)
    assert done["contacts"] == 2
    async with pg.acquire() as conn:
        rows = await conn.fetch("SELECT tag, email, phone FROM account_contacts ORDER BY tag")
    assert [tuple(r) for r in rows] == [
        ("billing", "ana@example.com", None),
        ("mobile", None, "+38640111222"),
    ]
    bad = [
        ([{"tag": "x"}], "email or a phone"),
        ([{"email": "not-an-address"}], "contacts.0.email"),
        ([{"phone": "12"}], "contacts.0.phone"),
        ([{"tag": "a", "email": "a@b.c"}, {"tag": "a", "email": "d@e.f"}], "tags repeat"),
    ]
    for value, message in bad:
        doc = {"accounts": [account("c1", "38640000121", contacts=value)]}
        path.write_text(yaml.safe_dump(doc))
        with pytest.raises(ProvisioningError, match=message):
            await provision(settings, path)
    async with pg.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM account_contacts") == 2  # unchanged
