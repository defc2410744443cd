"""Words and number forms every renderer shares, so paper, HTML and XML say the same thing.

Numbers are written plainly (`format(x, "f")`, never scientific, never locale-grouped): amounts
exactly as the document holds them (already rounded by `tarif_billing.money`), rates and
quantities without trailing zeros.
"""

from __future__ import annotations

from decimal import Decimal

from tarif_billing.document import Document, DocumentKind

TITLES: dict[DocumentKind, str] = {"invoice": "Invoice", "credit_note": "Credit note"}

# UNTDID 5305 categories a document may carry, as people read them.
CATEGORY_NAMES: dict[str, str] = {
    "S": "Standard rate",
    "Z": "Zero rated",
    "E": "Exempt from VAT",
    "AE": "Reverse charge",
    "K": "Intra-community supply",
    "G": "Export outside the EU",
    "O": "Not subject to VAT",
    "L": "Canary Islands tax",
    "M": "Ceuta and Melilla tax",
}

# EN 16931 wants a reason (BT-120) on every breakdown of these categories (BR-E-10, BR-AE-10,
# BR-IC-10, BR-G-10, BR-O-10); the document may name its own in `exemption_reasons`.
DEFAULT_EXEMPTION_REASONS: dict[str, str] = {
    "E": "Exempt from VAT",
    "AE": "Reverse charge",
    "K": "Intra-community supply",
    "G": "Export outside the EU",
    "O": "Not subject to VAT",
}


# "Not subject to VAT" has no rate at all (BR-O-05, BR-O-10): the XML leaves the rate out.
RATELESS_CATEGORIES = frozenset({"O"})


def shows_vat_ids(document: Document) -> bool:
    """False on a "not subject to VAT" document, whose XML must not carry VAT ids (BR-O-02)."""
    return all(line.tax_category not in RATELESS_CATEGORIES for line in document.lines)


def plain(value: Decimal) -> str:
    """`value` as written, in fixed-point notation: amounts keep their decimals.

    A negative zero (a rounded tax on a negative base, "-0.00") is written "0.00": EN 16931
    validators read it as non-zero (BR-E-09 on an exempt breakdown).
    """
    return format(value.copy_abs() if value.is_zero() else value, "f")


def trimmed(value: Decimal) -> str:
    """`value` without trailing zeros (a rate of 20.00 is "20", 5.50 is "5.5")."""
    if value.is_zero():
        return "0"
    if value == value.to_integral_value():
        return format(value.quantize(Decimal(1)), "f")
    return format(value.normalize(), "f")


def exemption_reason(document: Document, category: str) -> str:
    """The reason written beside an exempt category's breakdown, empty when none is needed.

    Only the categories that need one get one: a reason on S or Z breaks BR-S-10 / BR-Z-10.
    """
    if category not in DEFAULT_EXEMPTION_REASONS:
        return ""
    for code, reason in document.exemption_reasons:
        if code == category:
            return reason
    return DEFAULT_EXEMPTION_REASONS.get(category, "")


def address_lines(address: str) -> list[str]:
    """The street address, one entry per non-empty line."""
    return [line.strip() for line in address.splitlines() if line.strip()]
