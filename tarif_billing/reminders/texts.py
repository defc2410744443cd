"""A reminder's words. Each level has, per language, a subject, a beginning text and an ending
text: Jinja2 templates (sandboxed: they come from operators; strict: a misspelt field is an
error when the text is saved, never a blank in a customer's mail). The e-mail is the beginning
text, the invoices it reminds of (one row each: number, issue date, due date, amount due; the
fee's invoice last), then the ending text.

A template sees:

- `customer`: `name`, `first_name`, `last_name`, `organisation`
- `reminder`: `number`, `level`, `document_date`, `due_date`, `currency`, `overdue_total`,
  `fee` (the fee invoice's total, "0" without one), `fee_invoice` (its number or ""),
  `total_due` (overdue total + fee)
- `lines`: each `number`, `issue_date`, `due_date`, `total`, `amount_due`, `level` (none for an
  unpaid line), `kind` (`overdue` or `unpaid`), `on_hold`
- `seller`: `name`, `email`

Amounts are exact decimal text ("12.20") and dates ISO text: a template never formats money.
The customer's language is the billing profile's; a level without texts in it uses the terms'
default language, and one without that either the built-in English text below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment


@dataclass(frozen=True, slots=True)
class LevelText:
    language: str
    subject: str
    beginning_text: str = ""
    ending_text: str = ""


BUILT_IN = LevelText(
    "en",
    "Payment reminder: {{ reminder.total_due }} {{ reminder.currency }} overdue",
    "Dear {{ customer.name }},\n\n"
    "our records show that the invoices below are past their due date. Please pay"
    " {{ reminder.total_due }} {{ reminder.currency }} by {{ reminder.due_date }}.",
    "If you have paid in the meantime, please disregard this reminder.\n\n{{ seller.name }}",
)

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)

# what a text is tried against when it is saved: every field a real mail gives
SAMPLE: dict[str, Any] = {
    "customer": {
        "name": "Ana Novak",
        "first_name": "Ana",
        "last_name": "Novak",
        "organisation": "",
    },
    "reminder": {
        "number": "1",
        "level": 1,
        "document_date": "2027-01-08",
        "due_date": "2027-01-15",
        "currency": "EUR",
        "overdue_total": "12.20",
        "fee": "5.00",
        "fee_invoice": "INV-000002",
        "total_due": "17.20",
    },
    "lines": [
        {
            "number": "INV-000001",
            "issue_date": "2026-12-01",
            "due_date": "2026-12-16",
            "total": "12.20",
            "amount_due": "12.20",
            "level": 1,
            "kind": "overdue",
            "on_hold": False,
        }
    ],
    "seller": {"name": "Tarif Telecom", "email": "billing@example.com"},
}


class TextProblem(ValueError):
    """A level text is not a template that renders (the message says where)."""


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return _ENV.from_string(source)


def render_text(source: str, context: Mapping[str, Any]) -> str:
    return _template(source).render(**context)


def check_text(name: str, source: str) -> None:
    """TextProblem when `source` does not compile or does not render with every field a real
    mail has (e.g. `{{ reminder.totl }}`)."""
    try:
        render_text(source, SAMPLE)
    except TemplateError as exc:
        raise TextProblem(f"{name}: {exc}") from None


def choose(texts: Mapping[str, LevelText], languages: Sequence[str | None]) -> LevelText:
    """The text in the first of `languages` the level has; the built-in English one if none."""
    for language in languages:
        if language and language in texts:
            return texts[language]
    return BUILT_IN


def render_mail(text: LevelText, context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) of a reminder e-mail."""
    subject = " ".join(render_text(text.subject, context).split())
    parts = [
        render_text(text.beginning_text, context).strip(),
        lines_table(context),
        render_text(text.ending_text, context).strip(),
    ]
    return subject, "\n\n".join(p for p in parts if p) + "\n"


def lines_table(context: Mapping[str, Any]) -> str:
    """The invoices, one per row (number, issue date, due date, amount due), then the fee's
    invoice and the total: figures only, so the table reads the same in every language."""
    currency = context["reminder"]["currency"]
    rows = [
        (x["number"], x["issue_date"] or "", x["due_date"], f"{x['amount_due']} {currency}")
        for x in context["lines"]
    ]
    reminder = context["reminder"]
    if reminder["fee_invoice"]:
        rows.append(
            (reminder["fee_invoice"], reminder["document_date"], reminder["due_date"],
             f"{reminder['fee']} {currency}")
        )  # fmt: skip
    rows.append(("", "", "=", f"{reminder['total_due']} {currency}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    a, b, c, d = widths
    return "\n".join(f"{r[0]:<{a}}  {r[1]:<{b}}  {r[2]:<{c}}  {r[3]:>{d}}".rstrip() for r in rows)
