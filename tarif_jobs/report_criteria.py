"""The criteria of the financial reporting and export jobs (the seed gives them their own): the
period a run covers, the ledger filters of a report, and what an export sends where.

A period is whole days in the criteria's time zone, computed from the run's "process now":
`length` day, week (Monday to Sunday), month or year is the last whole one before the day of
"process now" (a monthly job running on 1 April reports March); `days: N` is the N days before
that day; `year` (+ `month`) is that fixed year or month. Secrets never sit in criteria: an
SFTP password or key and a webhook's signing secret are named by a reference that the batch
looks up in its settings (`TARIF_EXPORT_SECRETS`, `TARIF_EXPORT_SFTP_KEYS`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from tarif_jobs.criteria import Criteria

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Ref = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class Period(BaseModel):
    """Exactly one of `length`, `days`, `year` (with an optional `month`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    length: Literal["day", "week", "month", "year"] | None = None
    days: int | None = Field(default=None, ge=1, le=3660)
    year: int | None = Field(default=None, ge=2000, le=2100)
    month: int | None = Field(default=None, ge=1, le=12)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [self.length is not None, self.days is not None, self.year is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of length, days or year (with month)")
        if self.month is not None and self.year is None:
            raise ValueError("month goes with year")
        return self

    @property
    def is_month(self) -> bool:
        """Whether the period is one calendar month (what revenue recognition needs)."""
        return self.length == "month" or (self.year is not None and self.month is not None)

    def window(self, process_now: datetime, time_zone: str) -> tuple[date, date]:
        """(first day, day after the last): whole days in `time_zone`."""
        today = process_now.astimezone(ZoneInfo(time_zone)).date()
        if self.year is not None:
            if self.month is None:
                return date(self.year, 1, 1), date(self.year + 1, 1, 1)
            start = date(self.year, self.month, 1)
            return start, start + relativedelta(months=1)
        if self.days is not None:
            return today - timedelta(days=self.days), today
        if self.length == "day":
            return today - timedelta(days=1), today
        if self.length == "week":
            end = today - timedelta(days=today.weekday())  # this week's Monday
            return end - timedelta(days=7), end
        if self.length == "month":
            end = today.replace(day=1)
            return end - relativedelta(months=1), end
        end = today.replace(month=1, day=1)
        return end.replace(year=end.year - 1), end


def day_start(day: date, time_zone: str) -> datetime:
    """The instant a day starts in `time_zone` (the bound of a period on a timestamp field)."""
    return datetime.combine(day, time(0), ZoneInfo(time_zone)).astimezone(UTC)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def fingerprint(values: Any) -> str:
    """A stable digest of JSON-able values (what makes a report or an export the same one)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class FinancialReportCriteria(BaseModel):
    """A report of the journal (`journal`) or the revenue-recognition summary journal of a month
    (`revenue_recognition`), restricted to the ledgers, ledger groups, revenue types and account
    types listed (each list empty: all; lists combine with AND)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report: Literal["journal", "revenue_recognition"] = "journal"
    period: Period = Field(default_factory=lambda: Period(length="month"))
    time_zone: str = "UTC"
    ledgers: list[Name] = Field(default_factory=list, max_length=200)
    ledger_groups: list[Name] = Field(default_factory=list, max_length=200)
    revenue_types: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{0,64}$")]] = Field(
        default_factory=list, max_length=200
    )
    account_types: list[Literal["asset", "liability", "equity", "revenue", "expense"]] = Field(
        default_factory=list, max_length=5
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)

    @model_validator(mode="after")
    def _month_for_recognition(self) -> Self:
        if self.report == "revenue_recognition" and not self.period.is_month:
            raise ValueError("revenue recognition is by month: period length month, or year+month")
        return self

    def filters(self) -> dict[str, list[str]]:
        """The ledger filters as stored with a report."""
        return {
            "ledgers": sorted(self.ledgers),
            "ledger_groups": sorted(self.ledger_groups),
            "revenue_types": sorted(self.revenue_types),
            "account_types": sorted(self.account_types),
        }


class EmailDestination(BaseModel):
    """The file attached to an e-mail; its words from the mail template `<template>.email`
    (the reference table, else the built-in `export`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["email"]
    to: list[EmailStr] = Field(min_length=1, max_length=20)
    template: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] = "export"

    def target(self) -> str:
        return ", ".join(self.to)


class SftpDestination(BaseModel):
    """The file uploaded to `path` (a directory) on an SFTP server. Exactly one of
    `password_ref` (in TARIF_EXPORT_SECRETS) and `key_ref` (in TARIF_EXPORT_SFTP_KEYS). The
    server's key is checked: `host_key` (its OpenSSH public key line), else the known hosts
    file of TARIF_EXPORT_SFTP_KNOWN_HOSTS (default ~/.ssh/known_hosts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sftp"]
    host: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9_.:-]+$")]
    port: int = Field(default=22, ge=1, le=65535)
    user: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    path: Annotated[str, Field(min_length=1, max_length=1000, pattern=r"^[^\x00]+$")] = "."
    password_ref: Ref | None = None
    key_ref: Ref | None = None
    host_key: Annotated[str, Field(max_length=16_000, pattern=r"^(ssh|ecdsa)-\S+ \S+")] | None = (
        None
    )

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if (self.password_ref is None) == (self.key_ref is None):
            raise ValueError("give exactly one of password_ref and key_ref")
        return self

    def target(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}/{self.path.lstrip('/')}"


class WebhookDestination(BaseModel):
    """The file POSTed to `url`, signed as the notifier's webhooks (Standard Webhooks) with the
    secret `secret_ref` names in TARIF_EXPORT_SECRETS (none: TARIF_WEBHOOK_SECRET)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["webhook"]
    url: AnyHttpUrl
    secret_ref: Ref | None = None

    def target(self) -> str:
        return str(self.url)


Destination = Annotated[
    EmailDestination | SftpDestination | WebhookDestination, Field(discriminator="type")
]

DataType = Literal["invoices", "financial_reports", "payments", "usage_events"]

# data type -> the date fields a period may select on; the first is the default
PERIOD_FIELDS: dict[str, tuple[str, ...]] = {
    "invoices": ("issue_date", "due_date"),
    "payments": ("received_at", "recorded_at"),
    "usage_events": ("event_time", "stored_at"),
    "financial_reports": ("period_end", "computed_at"),
}


class ExportCriteria(Criteria):
    """What an export sends (data of a period, as CSV or JSON) and where; the customer criteria
    (inherited) select the customers whose invoices, payments or usage go in."""

    data: DataType
    format: Literal["csv", "json"] = "csv"
    period: Period = Field(default_factory=lambda: Period(length="month"))
    period_field: str | None = None
    time_zone: str = "UTC"
    file_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    destinations: list[Destination] = Field(min_length=1, max_length=10)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)

    @model_validator(mode="after")
    def _field_of_the_data(self) -> Self:
        allowed = PERIOD_FIELDS[self.data]
        if self.period_field is not None and self.period_field not in allowed:
            raise ValueError(f"period_field of {self.data} is one of {', '.join(allowed)}")
        customers = (
            self.customer_types, self.customer_ids, self.groups, self.attributes, self.payment_type
        )  # fmt: skip
        if self.data == "financial_reports" and any(customers):
            raise ValueError("financial reports are not per customer: no customer criteria")
        return self

    @property
    def date_field(self) -> str:
        return self.period_field or PERIOD_FIELDS[self.data][0]

    def file_name(self, start: date, end: date) -> str:
        """`<prefix>_<first day>_<last day>.<format>`: the period is in the name."""
        last = end - timedelta(days=1)
        prefix = self.file_prefix or self.data
        return f"{prefix}_{start.isoformat()}_{last.isoformat()}.{self.format}"

    def customer_criteria(self) -> Criteria:
        return Criteria(
            customer_types=self.customer_types,
            customer_ids=self.customer_ids,
            groups=self.groups,
            attributes=self.attributes,
            payment_type=self.payment_type,
        )
