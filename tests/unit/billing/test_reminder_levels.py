"""Which invoices a reminder names and at which level (pure rules, no database): grace periods
from the due date then from the last reminder's due date, the last level repeating up to the
maximum, the create action's options (highest level on all lines, invoices on hold, all
unpaid), fees never reminded of by themselves."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tarif_billing.reminders.date_formula import parse
from tarif_billing.reminders.levels import LevelRule, OpenInvoice, TermsRules, plan_reminder


def rule(level: int, grace: str, due: str) -> LevelRule:
    return LevelRule(level, parse(grace), parse(due), Decimal(0), None, None)


TERMS = TermsRules("STD", 4, (rule(1, "5D", "7D"), rule(2, "3D", "7D")))


def invoice(n: int, due: date, **kw: object) -> OpenInvoice:
    return OpenInvoice(
        n,
        f"INV-{n}",
        None,
        due,
        Decimal("10.00"),
        Decimal("10.00"),
        **kw,  # type: ignore[arg-type]
    )


def test_first_reminder_after_the_grace_period() -> None:
    due = date(2026, 12, 16)
    assert plan_reminder(TERMS, [invoice(1, due)], date(2026, 12, 21)) is None  # 16 + 5 = 21
    plan = plan_reminder(TERMS, [invoice(1, due)], date(2026, 12, 22))
    assert plan is not None
    assert (plan.level, plan.document_date, plan.due_date) == (
        1,
        date(2026, 12, 22),
        date(2026, 12, 29),
    )
    assert [(x.invoice.invoice_id, x.kind, x.level) for x in plan.lines] == [(1, "overdue", 1)]
    assert plan.overdue_total == Decimal("10.00")


def test_later_levels_count_from_the_last_reminders_due_date_and_the_last_level_repeats() -> None:
    reminded = invoice(1, date(2026, 12, 16), reminded=1, last_due=date(2027, 1, 1))
    assert plan_reminder(TERMS, [reminded], date(2027, 1, 4)) is None  # 1 + 3 = 4
    plan = plan_reminder(TERMS, [reminded], date(2027, 1, 5))
    assert plan is not None
    assert plan.level == 2
    third = invoice(1, date(2026, 12, 16), reminded=2, last_due=date(2027, 1, 12))
    plan = plan_reminder(TERMS, [third], date(2027, 1, 16))
    assert plan is not None
    assert plan.level == 3  # level 2's rule again: grace 3D, due 7D
    assert plan.due_date == date(2027, 1, 23)
    done = invoice(1, date(2026, 12, 16), reminded=4, last_due=date(2027, 1, 30))
    assert plan_reminder(TERMS, [done], date(2027, 6, 1)) is None  # max_reminders = 4


def test_options_shape_the_lines() -> None:
    older = invoice(1, date(2026, 11, 16), reminded=1, last_due=date(2026, 12, 1))
    newer = invoice(2, date(2026, 12, 16))
    not_due = invoice(3, date(2027, 1, 31))
    held = invoice(4, date(2026, 10, 16), on_hold=True)
    fee = invoice(5, date(2026, 12, 1), fee=True)
    everything = [older, newer, not_due, held, fee]
    at = date(2026, 12, 28)

    plan = plan_reminder(TERMS, everything, at)
    assert plan is not None
    assert plan.level == 2
    assert [(x.invoice.invoice_id, x.kind, x.level) for x in plan.lines] == [
        (1, "overdue", 2),
        (2, "overdue", 1),
    ]
    plan = plan_reminder(TERMS, everything, at, highest_level_on_all_lines=True)
    assert plan is not None
    assert [x.level for x in plan.lines] == [2, 2]
    plan = plan_reminder(TERMS, everything, at, all_unpaid=True, include_on_hold=True)
    assert plan is not None
    assert [(x.invoice.invoice_id, x.kind, x.level) for x in plan.lines] == [
        (4, "overdue", 1),
        (1, "overdue", 2),
        (2, "overdue", 1),
        (5, "unpaid", None),  # a fee is never reminded of by itself
        (3, "unpaid", None),
    ]
    assert plan.overdue_total == Decimal("30.00")


def test_no_levels_or_nothing_overdue_makes_no_reminder() -> None:
    assert (
        plan_reminder(TermsRules("NONE", 3, ()), [invoice(1, date(2020, 1, 1))], date(2027, 1, 1))
        is None
    )
    assert plan_reminder(TERMS, [invoice(1, date(2027, 1, 1), fee=True)], date(2028, 1, 1)) is None
    assert plan_reminder(TERMS, [], date(2027, 1, 1)) is None
