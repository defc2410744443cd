"""Billing reconciliation: the amounts that must agree, checked in Postgres for a period.

1. money of the rated records the bills took = usage items of those bills (per profile);
2. each billed bill's total = its invoice's total, its due items = the invoice's net;
3. each invoice's lines and VAT add up to its totals;
4. payments allocated = amounts paid (per invoice) and a charge = allocations + credit;
5. every journal transaction balances, and each profile's receivable and customer-credit
   accounts equal its pending total and credit balance.
Each check answers only disagreements: an empty report means everything adds up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

Q = queries.load("reconcile")
CHECKS = (
    "usage_vs_items",
    "bills_vs_invoices",
    "lines_vs_totals",
    "payments_vs_paid",
    "unbalanced_journal",
    "ledger_vs_profiles",
)


@dataclass(slots=True)
class Report:
    since: datetime
    until: datetime
    differences: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return not any(self.differences.values())


async def reconcile_billing(conn: TarifConnection, since: datetime, until: datetime) -> Report:
    report = Report(since, until)
    for check in CHECKS:
        args = () if check == "ledger_vs_profiles" else (since, until)
        report.differences[check] = [dict(r) for r in await conn.fetch(Q[check], *args)]
    return report
