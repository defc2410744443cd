"""What billing needs of a deployment: the `IssueContext` (seller, number series, default tax,
payment terms, the "process now" time) from `Settings`, and the `BillingFacts` (a currency's
decimals, a product's fee timing) from a catalog. The admin API, the batch's bulk run and the CLI
all build them here; each brings the catalog it reads (Postgres or the batch's cache)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tarif_billing.fees import Timing
from tarif_billing.issuing import IssueContext
from tarif_billing.parties import seller_party
from tarif_billing.runs import BillingFacts
from tarif_catalog import Catalog
from tarif_catalog.model import currency_decimals
from tarif_common.settings import Settings


@dataclass(frozen=True, slots=True)
class CatalogFacts:
    """A currency's decimals and a product's fee timing, read from one catalog version."""

    published: Catalog

    def decimals(self, currency: str) -> int:
        """A profile's currency names a money resource (its decimals); an ISO code kept by a
        resource of another name is found too."""
        resource = self.published.resources.get(currency)
        if resource is not None and resource.currency is not None:
            return resource.decimals
        return currency_decimals(self.published.resources, currency)

    def timing(self, product: str) -> Timing:
        """A product no longer in the catalog keeps the default (in advance)."""
        found = self.published.products.get(product)
        return found.billed if found is not None else "advance"


def billing_context(
    settings: Settings, catalog: Catalog, at: datetime
) -> tuple[IssueContext, BillingFacts]:
    """The context of invoices issued at `at` (the "process now" time) and the catalog facts."""
    facts = CatalogFacts(catalog)
    ctx = IssueContext(
        seller=seller_party(settings),
        series=settings.invoice_series,
        default_tax=settings.default_tax,
        payment_terms_days=settings.payment_terms_days,
        decimals=facts.decimals,
        issued_at=at,
        credit_note_series=settings.credit_note_series,
    )
    return ctx, BillingFacts(decimals=facts.decimals, timing=facts.timing)
