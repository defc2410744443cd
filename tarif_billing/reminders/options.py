"""The settings of an automation's actions (the seed's "Paramètres des actions de rappel"): one
model per action kind, validated when an action is written and read again when it runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tarif_billing.reminders.date_formula import always_forwards, parse
from tarif_jobs.criteria import Criteria

ActionKind = Literal["create", "issue", "send"]
ACTION_KINDS: tuple[ActionKind, ...] = ("create", "issue", "send")


class ActionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # the action's own filter on customers, AND the automation's (and the job's) criteria
    criteria: Criteria = Field(default_factory=Criteria)


class CreateOptions(ActionOptions):
    """Create reminders at the next level for billing profiles with overdue invoices."""

    # every line of a reminder gets the reminder's (highest) level, so each invoice on it moves
    # to that level; otherwise each line keeps its own invoice's next level
    highest_level_on_all_lines: bool = False
    # invoices on hold (disputed: `reminder_holds`) are reminded of like the others; without it
    # they are left out of reminders altogether
    include_on_hold: bool = False
    # the reminder also lists the unpaid invoices that are not overdue at their level (not yet
    # due, or in their grace period), apart from the overdue ones; they do not move a level
    all_unpaid: bool = False


class IssueOptions(ActionOptions):
    """Issue created reminders: post each level's fee, fix the dates."""

    # the posting date becomes the issue date (else the date the reminder was created)
    replace_posting_date: bool = False
    # the document date becomes the issue date and the due date is computed again from it
    # (else both stay as created)
    replace_document_date: bool = False


class SendOptions(ActionOptions):
    """E-mail issued reminders with the level's text, unpaid invoices attached as PDF."""

    # which invoices to attach: the reminder's overdue ones, every unpaid one, or none
    attach: Literal["overdue", "all", "none"] = "overdue"
    # how many times the same reminder may be sent
    max_sends: int = Field(default=1, ge=1, le=20)
    # a reminder sent before goes again only this long after its last sending
    resend_after: str = Field(default="7D", max_length=100)

    @field_validator("resend_after")
    @classmethod
    def _forwards(cls, value: str) -> str:
        formula = parse(value)
        if not always_forwards(formula):
            raise ValueError(f"{value!r} must move a date forwards (e.g. 7D, 1M)")
        return str(formula)


OPTIONS: dict[str, type[ActionOptions]] = {
    "create": CreateOptions,
    "issue": IssueOptions,
    "send": SendOptions,
}


def options_of(kind: str, raw: Any) -> ActionOptions:
    """The validated options of an action of `kind` (pydantic's ValidationError if invalid)."""
    return OPTIONS[kind].model_validate(raw or {})
