"""Request bodies of the collections endpoints (reminder terms and levels, automations and their
actions, Start, a profile's terms, invoice holds): checked here, once; what needs the database
(a term or tax that must exist) is checked by `admin_api/reminders.py`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from tarif_billing.reminders.cadence import Cadence
from tarif_billing.reminders.date_formula import never_backwards, parse
from tarif_billing.reminders.options import ActionKind, options_of
from tarif_billing.reminders.texts import check_text
from tarif_jobs.criteria import Criteria

TermsCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$", description="ISO 639 code, e.g. fr")]
Description = Annotated[str, Field(max_length=500)]
Template = Annotated[str, Field(max_length=5000)]


def _onward(value: str) -> str:
    """A grace period or due date calculation: a date formula that never goes back in time."""
    formula = parse(value)
    if not never_backwards(formula):
        raise ValueError(f"{value!r} moves some dates backwards; it must not (e.g. 5D, 1M, CM)")
    return str(formula)


Onward = Annotated[
    str,
    Field(min_length=1, max_length=100, description="a date formula, e.g. 5D, 1M-1D, CM+5D"),
    AfterValidator(_onward),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TermsNew(Strict):
    code: TermsCode
    description: Description = ""
    max_reminders: int = Field(default=3, ge=1, le=100)
    default_language: Language = "en"


class TermsPatch(Strict):
    description: Description | None = None
    max_reminders: int | None = Field(default=None, ge=1, le=100)
    default_language: Language | None = None


class LevelText(Strict):
    language: Language
    subject: Annotated[str, Field(min_length=1, max_length=300)]
    beginning_text: Template = ""
    ending_text: Template = ""

    @model_validator(mode="after")
    def _templates(self) -> Self:
        for name in ("subject", "beginning_text", "ending_text"):
            check_text(name, getattr(self, name))  # TextProblem is a ValueError: a 422
        return self


class LevelPut(Strict):
    """A level of reminder terms (created or replaced whole, texts included)."""

    grace_period: Onward = "0D"
    due_date_formula: Onward = "14D"
    fee_amount: Annotated[
        str, Field(pattern=r"^[0-9]{1,12}(\.[0-9]{1,6})?$", description='e.g. "5.00"')
    ] = "0"
    fee_currency: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,16}$")] | None = None
    fee_tax: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    texts: Annotated[list[LevelText], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if Decimal(self.fee_amount) > 0 and self.fee_currency is None:
            raise ValueError(
                "a fee needs its fee_currency (the currency of the profiles it is for)"
            )
        languages = [t.language for t in self.texts]
        if len(set(languages)) != len(languages):
            raise ValueError("one text per language")
        return self


class ActionNew(Strict):
    kind: ActionKind
    description: Description = ""
    options: dict[str, Any] = Field(
        default_factory=dict, description="the kind's settings (docs/collections.md)"
    )
    stop_on_error: bool = False

    @model_validator(mode="after")
    def _options(self) -> Self:
        self.options = checked_options(self.kind, self.options)
        return self


def checked_options(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The options of an action of `kind`, validated and complete (defaults filled in); a
    ValueError naming the first bad option."""
    try:
        checked: dict[str, Any] = options_of(kind, raw).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"options.{where}: {first['msg']}" if where else first["msg"]) from None
    return checked


class ActionPatch(Strict):
    description: Description | None = None
    options: dict[str, Any] | None = None
    stop_on_error: bool | None = None


class AutomationNew(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Description = ""
    terms: Annotated[list[TermsCode], Field(max_length=100)] = Field(
        default_factory=list, description="the reminder terms it handles (empty: every term)"
    )
    criteria: Criteria = Field(default_factory=Criteria)
    cadence: Cadence
    active: bool = True
    actions: Annotated[list[ActionNew], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _unique_terms(self) -> Self:
        if len(set(self.terms)) != len(self.terms):
            raise ValueError("terms: each code once")
        return self


class AutomationPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    description: Description | None = None
    terms: Annotated[list[TermsCode], Field(max_length=100)] | None = None
    criteria: Criteria | None = None
    cadence: Cadence | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _unique_terms(self) -> Self:
        if self.terms is not None and len(set(self.terms)) != len(self.terms):
            raise ValueError("terms: each code once")
        return self


class StartNew(Strict):
    process_now: AwareDatetime | None = Field(
        default=None, description="the date the run acts as of (refused in production)"
    )


class ProfileTermsPut(Strict):
    terms: TermsCode | None = Field(
        description="its reminder terms (null: TARIF_DEFAULT_REMINDER_TERMS, else never reminded)"
    )
    language: Language | None = Field(
        default=None, description="the language of its reminders (null: the terms' default)"
    )


class HoldPut(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


Move = Literal["up", "down"]
