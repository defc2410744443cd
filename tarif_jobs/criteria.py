"""What a job touches: the seed's customer criteria (customer type, customer ids, groups, custom
attributes, payment type), validated once and turned into one SQL condition on `customers`.

Financial reporting and export have criteria of their own (their job types define them); this
is the common customer filter the other job types apply."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Criteria(BaseModel):
    """Customer criteria; every field left empty selects everyone. Fields combine with AND, the
    values of one list with OR."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_types: list[str] = Field(default_factory=list, max_length=100)
    customer_ids: list[int] = Field(default_factory=list, max_length=10_000)
    # hierarchy or sharing group ids the customer owns or belongs to
    groups: list[str] = Field(default_factory=list, max_length=1000)
    # custom attributes the customer has with exactly these values
    attributes: dict[str, str | int | bool] = Field(default_factory=dict, max_length=50)
    payment_type: Literal["prepaid", "postpaid"] | None = None

    def where(self, customer: str = "c", first: int = 1) -> tuple[str, list[Any]]:
        """One SQL condition on the customers table aliased `customer`, with its bind values
        numbered from `$first`: `("TRUE", [])` when the criteria select everyone."""
        parts: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${first + len(args) - 1}"

        c = customer
        if self.customer_types:
            parts.append(f"{c}.customer_type = ANY({arg(self.customer_types)}::text[])")
        if self.customer_ids:
            parts.append(f"{c}.id = ANY({arg(self.customer_ids)}::bigint[])")
        if self.groups:
            g = arg(self.groups)
            parts.append(
                f"(EXISTS (SELECT 1 FROM hierarchy_members m WHERE m.customer_id = {c}.id"
                f" AND m.group_id = ANY({g}::text[]))"
                f" OR EXISTS (SELECT 1 FROM hierarchy_groups h WHERE h.owner_id = {c}.id"
                f" AND h.id = ANY({g}::text[]))"
                f" OR EXISTS (SELECT 1 FROM sharing_members m WHERE m.customer_id = {c}.id"
                f" AND m.group_id = ANY({g}::text[]))"
                f" OR EXISTS (SELECT 1 FROM sharing_groups s WHERE s.owner_id = {c}.id"
                f" AND s.id = ANY({g}::text[])))"
            )
        if self.attributes:
            parts.append(f"{c}.custom_attributes @> {arg(dict(self.attributes))}::jsonb")
        if self.payment_type is not None:
            parts.append(
                f"EXISTS (SELECT 1 FROM billing_profiles p WHERE p.customer_id = {c}.id"
                f" AND p.payment_type = {arg(self.payment_type)})"
            )
        return (" AND ".join(parts) or "TRUE"), args
