"""Reminder terms and their levels read from Postgres as `levels.TermsRules` (a small table, read
once per action of a run)."""

from __future__ import annotations

from decimal import Decimal

from tarif_billing.reminders.date_formula import parse
from tarif_billing.reminders.levels import LevelRule, TermsRules
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

R = queries.load("reminders")


async def load_terms(conn: TarifConnection) -> dict[str, TermsRules]:
    """Every term with its levels, by code."""
    levels: dict[str, list[LevelRule]] = {}
    for r in await conn.fetch(R.all_levels):
        levels.setdefault(r["terms_code"], []).append(
            LevelRule(
                r["level"],
                parse(r["grace_period"]),
                parse(r["due_date_formula"]),
                Decimal(r["fee_amount"]),
                r["fee_currency"],
                r["fee_tax"],
            )
        )
    return {
        r["code"]: TermsRules(r["code"], r["max_reminders"], tuple(levels.get(r["code"], ())))
        for r in await conn.fetch(R.all_terms)
    }
