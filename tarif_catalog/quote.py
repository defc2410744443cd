"""What rate selection hands to charging: a `Quote`, the pieces of one call and their prices.

A `Pricing` is one rate's terms in the form charging computes with (`tarif_catalog.units`): shared
by every prefix and every request that selects the same terms, never copied, compared by
identity. A `Quote` is the schedule of one call: the piece starting at offset 0 (the rate in force
when the call starts, which also gives the increments, the connect fee and the cap), then one
piece per time-band change within the call. A call that does not cross a band, or a tariff that
rates the whole call at its start band, has one piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tarif_catalog.model import ConsumptionOrder, rate_id
from tarif_catalog.units import CallTerms, Rounding, Segment, Step, UnitPrice


@dataclass(frozen=True, slots=True, eq=False)
class Pricing:
    """One rate's terms, ready to compute with; every money figure in 1/`scale` micro-units."""

    tariff_id: str
    service: str
    money_resource: str
    currency: str
    decimals: int  # the currency's minor unit
    money_order: ConsumptionOrder
    free_resources: tuple[tuple[str, ConsumptionOrder], ...]
    band: str | None  # the time band the rate is limited to (None: any time)
    connect_fee: int
    steps: tuple[Step, ...]
    prices: tuple[UnitPrice, ...]
    scale: int  # the tariff's: lcm of its `per` values
    rounding_decimals: int  # the tariff's rounding: decimals (0-6) and method
    rounding: Rounding
    max_cost: int | None  # per call; None: no cap
    disconnect: bool  # at the cap the call stops (True) or the rest is free (False)

    def terms(self) -> CallTerms:
        return CallTerms(
            self.steps,
            self.connect_fee,
            self.scale,
            self.rounding_decimals,
            self.rounding,
            self.decimals,
            self.max_cost,
            self.disconnect,
        )


@dataclass(frozen=True, slots=True)
class Piece:
    """From offset `start` (units from the call's start), the call is priced by `pricing`, the
    rate of the (normalised) destination `prefix` in force then."""

    start: int
    prefix: str
    pricing: Pricing

    @property
    def rate_id(self) -> str:
        return rate_id(self.pricing.tariff_id, self.prefix, self.pricing.band)


@dataclass(frozen=True, slots=True)
class Quote:
    """The pieces of one call, in offset order; the first starts at 0."""

    pieces: tuple[Piece, ...]
    # the start rate's id, worked out on first use: a one-piece quote serves many requests
    _rate_id: str = field(default="", init=False, repr=False, compare=False)

    @property
    def pricing(self) -> Pricing:
        """The rate at the call's start: increments, connect fee, cap, money resource."""
        return self.pieces[0].pricing

    @property
    def prefix(self) -> str:
        return self.pieces[0].prefix

    @property
    def rate_id(self) -> str:
        """The start rate's id, as rated records name the rate."""
        found = self._rate_id
        if not found:
            found = self.pieces[0].rate_id
            object.__setattr__(self, "_rate_id", found)  # not part of its value
        return found

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands of the pieces, in order, once each (a band-less rate adds nothing)."""
        seen: dict[str, None] = {}
        for piece in self.pieces:
            if piece.pricing.band is not None:
                seen.setdefault(piece.pricing.band)
        return tuple(seen)

    def schedule(self) -> tuple[Segment, ...]:
        return tuple((piece.start, piece.pricing.prices) for piece in self.pieces)
