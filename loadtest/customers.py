"""A deterministic data set of customers for the admin API's benchmark and its 100k test.

`rows(n)` is pure (the test computes expected answers from it); `load(conn, n)` writes them with
COPY: customers, each with one subscription and one service identifier. The billing benchmark
(loadtest/billing_bench.py) loads them postpaid and adds profiles, fees and rated records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg

from tarif_postgres import queries

Q = queries.load("loadtest")

FIRST = [
    "Ana", "Bojan", "Cvetka", "Darko", "Eva", "Franc", "Gaja", "Hana", "Igor", "Jana",
    "Klemen", "Lara", "Matej", "Nina", "Oskar", "Petra", "Rok", "Sara", "Tilen", "Urska",
    "Vid", "Zala", "Ales", "Bostjan", "Chiara", "Dejan", "Erik", "Fani", "Goran", "Helena",
]  # fmt: skip
LAST = [
    "Novak", "Horvat", "Kovacic", "Krajnc", "Zupancic", "Potocnik", "Kovac", "Mlakar",
    "Kos", "Vidmar", "Golob", "Turk", "Bozic", "Kralj", "Korosec", "Zupan", "Bizjak",
    "Hribar", "Kotnik", "Kavcic", "Rozman", "Kastelic", "Oblak", "Petek", "Zagar",
    "Hocevar", "Kolar", "Kosir", "Koren", "Klemencic", "Zajc", "Knez", "Medved", "Zakrajsek",
    "Pirc", "Hrovat", "Zorko", "Sever", "Majcen", "Leban",
]  # fmt: skip
CITIES = [
    "Ljubljana", "Maribor", "Celje", "Kranj", "Koper", "Velenje", "Novo mesto", "Ptuj",
    "Trbovlje", "Kamnik", "Jesenice", "Nova Gorica", "Domzale", "Skofja Loka", "Murska Sobota",
    "Izola", "Postojna", "Logatec", "Vrhnika", "Kocevje", "Zagreb", "Split", "Rijeka", "Osijek",
    "Zadar", "Graz", "Wien", "Linz", "Trieste", "Udine",
]  # fmt: skip
COUNTRY = {"Zagreb": "HR", "Split": "HR", "Rijeka": "HR", "Osijek": "HR", "Zadar": "HR",
           "Graz": "AT", "Wien": "AT", "Linz": "AT", "Trieste": "IT", "Udine": "IT"}  # fmt: skip
METHODS = ("invoice", "credit_card", "direct_debit")


@dataclass(frozen=True, slots=True)
class Row:
    index: int
    account_id: str
    first_name: str
    last_name: str
    email: str
    city: str
    country: str
    status: str
    customer_type: str
    payment_method: str
    address: str
    service: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def row(i: int) -> Row:
    first = FIRST[i % len(FIRST)]
    last = LAST[(i * 7 + i // len(FIRST)) % len(LAST)]
    city = CITIES[(i * 13 + i // 97) % len(CITIES)]
    return Row(
        index=i,
        account_id=f"L{i}",
        first_name=first,
        last_name=last,
        email=f"{first.lower()}.{last.lower()}{i}@mail{i % 7}.example",
        city=city,
        country=COUNTRY.get(city, "SI"),
        status="closed" if i % 97 == 0 else "inactive" if i % 13 == 0 else "active",
        customer_type="business" if i % 5 == 0 else "residential",
        payment_method=METHODS[i % 3],
        address=f"Ulica {LAST[(i * 3) % len(LAST)]} {i % 150 + 1}",
        service=f"3867{i:08d}",
    )


def rows(n: int) -> Iterator[Row]:
    return (row(i) for i in range(n))


async def load(conn: asyncpg.Connection, n: int, *, payment_type: str = "prepaid") -> None:
    """COPY `n` customers with a subscription and a service each (ids 1..n in a fresh table);
    customer i's balance group and subscription have id i too."""
    async with conn.transaction():
        await conn.copy_records_to_table(
            "customers",
            columns=[
                "id", "account_id", "customer_type", "first_name", "last_name", "email", "phone",
                "address", "city", "state", "country", "payment_method", "status",
            ],
            records=(
                (r.index + 1, r.account_id, r.customer_type, r.first_name, r.last_name, r.email,
                 "+38640000000", r.address, r.city, "-", r.country, r.payment_method, r.status)
                for r in rows(n)
            ),
        )  # fmt: skip
        await conn.copy_records_to_table(
            "balance_groups",
            columns=["id", "customer_id", "account_id", "name"],
            records=((r.index + 1, r.index + 1, r.account_id, "main") for r in rows(n)),
        )
        await conn.copy_records_to_table(
            "subscriptions",
            columns=["id", "customer_id", "plan", "payment_type", "currency", "balance_group_id"],
            records=((i + 1, i + 1, "basic", payment_type, "EUR", i + 1) for i in range(n)),
        )
        await conn.copy_records_to_table(
            "services",
            columns=["identifier", "subscription_id"],
            records=((r.service, r.index + 1) for r in rows(n)),
        )
        await conn.execute(Q.reset_id_sequences)
    await conn.execute(Q.analyze_loaded_tables)
