"""Which invoices a reminder names, and at which level: pure rules over a billing profile's
unpaid invoices, as Business Central suggests reminder lines.

- An invoice reminded of `k` times (its last issued reminder's line level) is next at level
  `n = k + 1`; past the terms' `max_reminders` it is not reminded of again. Level `n` uses the
  terms' level `n`, or their last level when there are fewer levels than reminders (the last
  level repeats).
- It is **overdue at level n** when its reference date plus level n's grace period is before the
  reminder date (strictly): the reference is the invoice's due date for the first reminder, then
  the due date of the last reminder issued for it.
- A profile gets a reminder when at least one invoice is overdue at its level. The reminder's
  level is the highest of those lines; with `highest_level_on_all_lines` every overdue line gets
  it. The reminder's due date is its level's due date formula applied to the reminder date.
- Invoices on hold are left out unless `include_on_hold`; with `all_unpaid` the other unpaid
  invoices are listed too, as `unpaid` lines without a level. A reminder fee (an invoice a
  reminder issued) is never overdue by itself (no fees on fees): it is only ever an `unpaid`
  line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from tarif_billing.reminders.date_formula import DateFormula


@dataclass(frozen=True, slots=True)
class LevelRule:
    level: int
    grace: DateFormula
    due: DateFormula
    fee_amount: Decimal
    fee_currency: str | None
    fee_tax: str | None


@dataclass(frozen=True, slots=True)
class TermsRules:
    code: str
    max_reminders: int
    levels: tuple[LevelRule, ...]  # levels 1..n in order

    def rule(self, n: int) -> LevelRule:
        """Level n's rule: the last level repeats past the last one."""
        return self.levels[min(n, len(self.levels)) - 1]


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    invoice_id: int
    number: str
    issue_date: date | None
    due_date: date
    total: Decimal
    amount_due: Decimal
    on_hold: bool = False
    fee: bool = False  # a reminder fee: never overdue by itself
    reminded: int = 0  # reminders issued for it (the level of the last one)
    last_due: date | None = None  # the due date of its last issued reminder


LineKind = Literal["overdue", "unpaid"]


@dataclass(frozen=True, slots=True)
class PlannedLine:
    invoice: OpenInvoice
    kind: LineKind
    level: int | None  # overdue lines: the level the invoice reaches with this reminder


@dataclass(frozen=True, slots=True)
class Plan:
    level: int
    document_date: date
    due_date: date
    lines: tuple[PlannedLine, ...]

    @property
    def overdue_total(self) -> Decimal:
        return sum((x.invoice.amount_due for x in self.lines if x.kind == "overdue"), Decimal(0))


def overdue_level(terms: TermsRules, invoice: OpenInvoice, as_of: date) -> int | None:
    """The level `invoice` is overdue at on `as_of`, or None."""
    if invoice.fee or not terms.levels:
        return None
    n = invoice.reminded + 1
    if n > terms.max_reminders:
        return None
    reference = invoice.due_date if invoice.reminded == 0 else invoice.last_due
    if reference is None:
        reference = invoice.due_date
    return n if terms.rule(n).grace.apply(reference) < as_of else None


def plan_reminder(
    terms: TermsRules,
    invoices: list[OpenInvoice],
    as_of: date,
    *,
    highest_level_on_all_lines: bool = False,
    include_on_hold: bool = False,
    all_unpaid: bool = False,
) -> Plan | None:
    """The reminder a profile gets on `as_of`, or None when no invoice is overdue at its level."""
    considered = [i for i in invoices if include_on_hold or not i.on_hold]
    levels = {i.invoice_id: overdue_level(terms, i, as_of) for i in considered}
    overdue = [i for i in considered if levels[i.invoice_id] is not None]
    if not overdue:
        return None
    level = max(n for n in levels.values() if n is not None)
    lines = [
        PlannedLine(i, "overdue", level if highest_level_on_all_lines else levels[i.invoice_id])
        for i in overdue
    ]
    if all_unpaid:
        lines += [
            PlannedLine(i, "unpaid", None) for i in considered if levels[i.invoice_id] is None
        ]
    lines.sort(key=lambda x: (x.kind != "overdue", x.invoice.due_date, x.invoice.invoice_id))
    return Plan(level, as_of, terms.rule(level).due.apply(as_of), tuple(lines))
