"""Rating: the product catalog, rate selection and the integer price arithmetic.

Pure computation (no I/O): `parse_catalog` validates a catalog document, `CompiledCatalog` picks
the `Pricing` for a usage, and the functions of `units` turn usage into rated units and money.
"""

from tarif_catalog.compiled import CompiledCatalog
from tarif_catalog.model import Catalog, ConsumptionOrder, Tier
from tarif_catalog.parse import parse_catalog
from tarif_catalog.quote import Piece, Pricing, Quote
from tarif_catalog.units import (
    CallCost,
    CallTerms,
    Rounding,
    Step,
    UnitPrice,
    call_cost,
    floor_boundary,
    range_cost,
    rated_units,
    to_currency,
)

__all__ = [
    "CallCost",
    "CallTerms",
    "Catalog",
    "CompiledCatalog",
    "ConsumptionOrder",
    "Piece",
    "Pricing",
    "Quote",
    "Rounding",
    "Step",
    "Tier",
    "UnitPrice",
    "call_cost",
    "floor_boundary",
    "parse_catalog",
    "range_cost",
    "rated_units",
    "to_currency",
]
