"""Amounts written in documents (decimal text or integers) as integers of a resource's unit."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from tarif_common.errors import ProvisioningError


def to_units(value: str | int, decimals: int, where: str) -> int:
    """Decimal text in the resource's unit -> integer of its smallest unit, never rounded.

    "10.00" with 2 decimals is 1000; "1.005" with 2 decimals is refused, not rounded.
    """
    try:
        exact = Decimal(str(value))
    except InvalidOperation as exc:
        raise ProvisioningError(f"{where}: not a number: {value!r}") from exc
    scaled = exact.scaleb(decimals)
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ProvisioningError(f"{where}: more than {decimals} decimals in {value}")
    return int(scaled)
