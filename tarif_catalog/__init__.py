"""Rating: the product catalog, rate selection and the integer price arithmetic.

Pure computation (no I/O): `parse_catalog` validates a catalog document, `CompiledCatalog` picks
the `Pricing` for a usage, and the functions of `units` turn usage into rated units and money.
"""

from tarif_catalog.compiled import CompiledCatalog, Pricing
from tarif_catalog.model import Catalog, ConsumptionOrder, Tier
from tarif_catalog.parse import parse_catalog
from tarif_catalog.units import cost_minor, rated_units, tier_cost_micros, to_minor

__all__ = [
    "Catalog",
    "CompiledCatalog",
    "ConsumptionOrder",
    "Pricing",
    "Tier",
    "cost_minor",
    "parse_catalog",
    "rated_units",
    "tier_cost_micros",
    "to_minor",
]
