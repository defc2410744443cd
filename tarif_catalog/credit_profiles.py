"""Parsing of the catalog's `credit_profiles`: thresholds that notify the customer.

```yaml
credit_profiles:
  standard:
    thresholds:
      - {id: credit-80, resource: EUR, basis: percent_of_initial, value: 80, type: credit_low,
         channels: [email, sms]}            # 80 % of the provisioned money consumed
      - {id: owed-90, resource: EUR, basis: percent_of_limit, value: 90, type: credit_limit_near}
      - {id: low-2eur, resource: EUR, basis: absolute, value: "2.00", direction: falling}
      - {id: data-back, resource: data_bytes, basis: absolute, value: 1048576, direction: rising}
```
`direction` defaults to `falling`; `channels` to `[email]`; `type` to the threshold id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tarif_catalog import _fields as f
from tarif_catalog.model import CreditProfile, Direction, Resource, Threshold, ThresholdBasis
from tarif_common.errors import CatalogError

CHANNELS = ("email", "sms", "webhook")


def parse_credit_profiles(
    value: Any, resources: Mapping[str, Resource]
) -> dict[str, CreditProfile]:
    profiles = {}
    for key, raw in f.mapping(value, "credit_profiles").items():
        path = f.at("credit_profiles", key)
        name = f.key_name(key, "credit_profiles")
        m = f.mapping(raw, path)
        f.keys(m, path, ("thresholds",), ())
        items = f.sequence(m["thresholds"], f.at(path, "thresholds"))
        thresholds = tuple(
            _threshold(item, f.at(f.at(path, "thresholds"), i), resources)
            for i, item in enumerate(items)
        )
        ids = [t.id for t in thresholds]
        for i, threshold_id in enumerate(ids):
            if threshold_id in ids[:i]:
                raise CatalogError(
                    f.at(f.at(path, "thresholds"), i), f"id {threshold_id!r} repeats"
                )
        profiles[name] = CreditProfile(name, thresholds)
    return profiles


def _threshold(value: Any, path: str, resources: Mapping[str, Resource]) -> Threshold:
    m = f.mapping(value, path)
    f.keys(m, path, ("id", "resource", "basis", "value"), ("direction", "type", "channels"))
    threshold_id = f.name(m["id"], f.at(path, "id"))
    resource_name = f.name(m["resource"], f.at(path, "resource"))
    resource = resources.get(resource_name)
    if resource is None:
        raise CatalogError(f.at(path, "resource"), f"unknown resource {resource_name!r}")
    try:
        basis = ThresholdBasis(f.string(m["basis"], f.at(path, "basis")))
    except ValueError:
        choices = ", ".join(b.value for b in ThresholdBasis)
        raise CatalogError(f.at(path, "basis"), f"must be one of {choices}") from None
    at_value = f.at(path, "value")
    if basis is ThresholdBasis.ABSOLUTE:
        if resource.kind == "money":
            micros = f.money_micros(m["value"], at_value)
            scale = 10 ** (6 - resource.decimals)
            if micros % scale:
                raise CatalogError(at_value, f"more than {resource.decimals} decimals")
            amount = micros // scale
        else:
            amount = f.integer(m["value"], at_value, 0)
    else:
        amount = f.integer(m["value"], at_value, 0, 100)
        if basis is ThresholdBasis.PERCENT_OF_LIMIT and resource.kind != "money":
            raise CatalogError(f.at(path, "basis"), "percent_of_limit needs a money resource")
    try:
        direction = Direction(f.string(m.get("direction", "falling"), f.at(path, "direction")))
    except ValueError:
        raise CatalogError(f.at(path, "direction"), "must be falling or rising") from None
    channels = f.names(m.get("channels", ["email"]), f.at(path, "channels"))
    for i, channel in enumerate(channels):
        if channel not in CHANNELS:
            raise CatalogError(f.at(f.at(path, "channels"), i), f"must be one of {CHANNELS}")
    notification_type = f.name(m.get("type", threshold_id), f.at(path, "type"))
    return Threshold(
        threshold_id, resource_name, basis, amount, direction, notification_type, channels
    )
