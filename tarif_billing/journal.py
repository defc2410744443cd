"""Double-entry postings of invoices, credit notes, transfers and payments.

Accounts (one chart, docs/billing.md "Journal"): `receivable` (per billing profile),
`revenue:<ledger>` (`revenue:sales` when the charge names no ledger), `tax:<tax>`,
`customer_credit` (overpayments held for the customer), `hierarchy_transfers` (a member's invoice
between the member's receivable and the owner's invoice), `cash:<method>`. Each posting's debits
equal its credits; Postgres checks it again at commit (a deferred trigger).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tarif_billing.invoicing import DraftLine
from tarif_billing.money import TaxSubtotal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Leg:
    account: str
    billing_profile_id: int | None
    debit: Decimal
    credit: Decimal


def _signed(account: str, profile: int | None, amount: Decimal) -> Leg | None:
    """A debit for a positive amount, a credit for a negative one; nothing for zero."""
    if amount > 0:
        return Leg(account, profile, amount, ZERO)
    if amount < 0:
        return Leg(account, profile, ZERO, -amount)
    return None


def _legs(entries: Iterable[tuple[str, int | None, Decimal]]) -> list[Leg]:
    merged: dict[tuple[str, int | None], Decimal] = {}
    for account, profile, amount in entries:
        merged[(account, profile)] = merged.get((account, profile), ZERO) + amount
    return [leg for (a, p), x in merged.items() if (leg := _signed(a, p, x)) is not None]


def invoice_legs(
    profile: int,
    lines: Iterable[DraftLine],
    taxes: Iterable[tuple[str, TaxSubtotal]],
    *,
    sign: int = 1,
) -> list[Leg]:
    """Receivable against revenue and tax payable; `sign=-1` reverses it (a credit note).

    `taxes` pairs each subtotal with the tax name it is payable to.
    """
    entries: list[tuple[str, int | None, Decimal]] = []
    total = ZERO
    for line in lines:
        account = "hierarchy_transfers" if line.kind == "transfer" else _revenue(line.ledger)
        entries.append((account, None, -sign * line.net))
        total += line.net
    for name, subtotal in taxes:
        entries.append((f"tax:{name}", None, -sign * subtotal.tax))
        total += subtotal.tax
    entries.append(("receivable", profile, sign * total))
    return _legs(entries)


def credit_applied_legs(profile: int, amount: Decimal) -> list[Leg]:
    return _legs([("customer_credit", profile, amount), ("receivable", profile, -amount)])


def transfer_legs(member_profile: int, amount: Decimal) -> list[Leg]:
    return _legs([("hierarchy_transfers", None, amount), ("receivable", member_profile, -amount)])


def payment_legs(profile: int, method: str, allocated: Decimal, to_credit: Decimal) -> list[Leg]:
    return _legs(
        [
            (f"cash:{method}", None, allocated + to_credit),
            ("receivable", profile, -allocated),
            ("customer_credit", profile, -to_credit),
        ]
    )


def reversal_legs(profile: int, method: str, allocated: Decimal, to_credit: Decimal) -> list[Leg]:
    """A payment given back by the bank: its legs the other way round."""
    return _legs(
        [
            (f"cash:{method}", None, -(allocated + to_credit)),
            ("receivable", profile, allocated),
            ("customer_credit", profile, to_credit),
        ]
    )


def refund_legs(profile: int, method: str, amount: Decimal) -> list[Leg]:
    return _legs([("customer_credit", profile, amount), (f"cash:{method}", None, -amount)])


def excess_credit_legs(profile: int, amount: Decimal) -> list[Leg]:
    """A negative total or a credit note beyond what was due: held as customer credit."""
    return _legs([("receivable", profile, amount), ("customer_credit", profile, -amount)])


def _revenue(ledger: str | None) -> str:
    return f"revenue:{ledger or 'sales'}"
