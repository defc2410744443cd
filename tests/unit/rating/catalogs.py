"""Catalog documents shared by the rating tests."""

from __future__ import annotations

import copy
from typing import Any

import yaml

# The document format exactly as specified for operators (quoted money, quoted times).
EXAMPLE_YAML = """\
timezone: Europe/Ljubljana
resources:
  EUR: {kind: money, currency: EUR, decimals: 2, order: earliest_expiry}
  voice_seconds: {kind: unit, unit: second, order: earliest_expiry}   # order optional, default earliest_expiry
  data_bytes: {kind: unit, unit: byte, order: priority}
  sms_count: {kind: unit, unit: event}
service_types:
  voice: {unit: second, rating_field: destination, mandatory: [destination], optional: [origin], free_resources: [voice_seconds]}
  data: {unit: byte, free_resources: [data_bytes]}          # rating_field omitted = null
  sms: {unit: event, rating_field: destination, mandatory: [destination], free_resources: [sms_count]}
time_bands:
  peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00"}
tariffs:
  voice-std:
    service: voice
    currency: EUR                 # name of a money resource
    rates:
      - {prefix: "39", price: "0.12", per: 60, increment: [60, 60], connect_fee: "0.00"}
      - {prefix: "386", band: peak, price: "0.05", per: 60, increment: [1, 1]}
      - {prefix: "", price: "0.50", per: 60, increment: [60, 60]}
  data-std:
    service: data
    currency: EUR
    rates:
      - prefix: ""
        increment: [1024, 1024]
        tiers:                     # either `price`+`per` (one open tier) or `tiers`
          - {up_to: 1073741824, price: "0.01", per: 1048576}
          - {price: "0.005", per: 1048576}
plans:
  basic: {tariffs: {voice: voice-std, data: data-std}}
"""  # noqa: E501 (verbatim from the specification)

_EXAMPLE: dict[str, Any] = yaml.safe_load(EXAMPLE_YAML)


def example_doc() -> dict[str, Any]:
    """A fresh, mutable copy of the example document."""
    return copy.deepcopy(_EXAMPLE)
