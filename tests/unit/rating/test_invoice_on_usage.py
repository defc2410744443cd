"""A service product may be marked `invoice_on_usage`; any other use of the field is refused
with its path."""

from __future__ import annotations

from typing import Any

import pytest

from tarif_catalog import parse_catalog
from tarif_common.errors import CatalogError

from .test_offers import offers_doc


def with_product(**fields: Any) -> dict[str, Any]:
    doc = offers_doc()
    doc["products"]["iot-line"] = fields
    return doc


def test_a_service_product_is_invoiced_on_usage_when_marked() -> None:
    products = parse_catalog(with_product(service="voice", invoice_on_usage=True)).products
    assert products["iot-line"].invoice_on_usage is True
    assert products["iot-line"].service == "voice"
    # the default: usage waits for the cycle's bill
    assert products["voice-line"].invoice_on_usage is False
    assert parse_catalog(with_product(service="voice")).products["iot-line"].invoice_on_usage is (
        False
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"invoice_on_usage": True}, "give `service`"),
        ({"service": "voice", "invoice_on_usage": "yes"}, "expected true or false"),
        ({"service": "voice", "invoice_on_usage": 1}, "expected true or false"),
    ],
)
def test_a_wrong_mark_names_its_path(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(with_product(**fields))
    assert caught.value.path == "products.iot-line.invoice_on_usage"
    assert reason in caught.value.reason
