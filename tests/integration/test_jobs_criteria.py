"""A job's customer criteria select exactly the customers they name, in Postgres."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import ValidationError

from tarif_jobs.criteria import Criteria


async def seed(pool: asyncpg.Pool) -> dict[str, int]:
    """Six customers: types, an attribute, groups and payment types spread over them."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO customer_types (name) VALUES ('residential'), ('business')"
            " ON CONFLICT DO NOTHING"
        )
        ids: dict[str, int] = {}
        for i, (name, ctype, attrs) in enumerate(
            [
                ("ana", "residential", {"segment": "gold"}),
                ("bor", "business", {"segment": "gold", "vip": True}),
                ("cene", "business", {}),
                ("dora", "residential", {"segment": "silver"}),
                ("eva", "residential", {}),
                ("fran", "business", {"segment": "gold"}),
            ]
        ):
            ids[name] = await conn.fetchval(
                """INSERT INTO customers (account_id, customer_type, first_name, last_name,
                       email, phone, address, city, state, country, payment_method,
                       custom_attributes)
                   VALUES ($1, $2, $1, 'X', $1 || '@example.com', '+3861', 'Street', 'City',
                       'S', 'SI', 'invoice', $3::jsonb) RETURNING id""",
                name,
                ctype,
                attrs,
            )
            payment = "prepaid" if i % 2 else "postpaid"
            await conn.execute(
                """INSERT INTO billing_profiles (customer_id, payment_type, currency,
                       billing_interval, billing_day, time_zone)
                   VALUES ($1, $2, 'EUR', 'monthly', 1, 'UTC')""",
                ids[name],
                payment,
            )
        profile = await conn.fetchval(
            "SELECT id FROM billing_profiles WHERE customer_id = $1", ids["ana"]
        )
        await conn.execute(
            "INSERT INTO hierarchy_groups (id, owner_id, billing_profile_id) VALUES ('H1', $1, $2)",
            ids["ana"],
            profile,
        )
        await conn.execute(
            "INSERT INTO hierarchy_members (group_id, customer_id) VALUES ('H1', $1)", ids["bor"]
        )
        await conn.execute(
            "INSERT INTO sharing_groups (id, owner_id, policy) VALUES ('S1', $1, '{}')", ids["eva"]
        )
        await conn.execute(
            "INSERT INTO sharing_members (group_id, customer_id) VALUES ('S1', $1)", ids["cene"]
        )
    return ids


async def selected(pool: asyncpg.Pool, criteria: Criteria) -> set[int]:
    condition, args = criteria.where("c", first=2)
    rows = await pool.fetch(
        f"SELECT c.id FROM customers c WHERE c.id > $1 AND {condition}", 0, *args
    )
    return {r["id"] for r in rows}


async def test_each_criterion_and_their_combination(pg: asyncpg.Pool) -> None:
    ids = await seed(pg)
    name = {v: k for k, v in ids.items()}

    async def names(**fields: object) -> set[str]:
        return {name[i] for i in await selected(pg, Criteria.model_validate(fields))}

    assert await names() == set(ids)
    assert await names(customer_types=["business"]) == {"bor", "cene", "fran"}
    assert await names(customer_ids=[ids["ana"], ids["eva"]]) == {"ana", "eva"}
    assert await names(attributes={"segment": "gold"}) == {"ana", "bor", "fran"}
    assert await names(attributes={"segment": "gold", "vip": True}) == {"bor"}
    assert await names(payment_type="prepaid") == {"bor", "dora", "fran"}
    # owners and members of the named hierarchy or sharing groups
    assert await names(groups=["H1"]) == {"ana", "bor"}
    assert await names(groups=["S1", "H1"]) == {"ana", "bor", "cene", "eva"}
    assert await names(
        customer_types=["business"], attributes={"segment": "gold"}, payment_type="prepaid"
    ) == {"bor", "fran"}
    assert await names(customer_types=["business"], groups=["S1"]) == {"cene"}


def test_unknown_fields_and_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        Criteria.model_validate({"customer_type": ["business"]})
    with pytest.raises(ValidationError):
        Criteria.model_validate({"payment_type": "credit"})
    with pytest.raises(ValidationError):
        Criteria.model_validate({"customer_ids": ["x"]})
    assert Criteria().where() == ("TRUE", [])
