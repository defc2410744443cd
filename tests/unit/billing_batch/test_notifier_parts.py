"""The notifier's pure parts: retry policy, signatures, templates, recipients, entry parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pytest

from billing_batch.notifier.dispatcher import RetryPolicy
from billing_batch.notifier.ingest import recipients
from tarif_catalog.model import ConsumptionOrder, Resource
from tarif_common import signing
from tarif_notifications.messages import Renderer
from tarif_notifications.model import Notification, UnreadableEntry, from_entry
from tarif_notifications.store import Contact


def notification(**changes: object) -> Notification:
    values: dict[str, object] = {
        "account_id": "1001",
        "source_id": "e:x|credit-80",
        "subscriber": "38640111222",
        "type": "credit_low",
        "threshold_id": "credit-80",
        "resource": "EUR",
        "direction": "falling",
        "threshold_level": 200,
        "value": 195,
        "decimals": 2,
        "unit": "EUR",
        "event_time": datetime(2026, 11, 18, 10, 59, tzinfo=UTC),
        "fired_at": datetime(2026, 11, 18, 10, 59, tzinfo=UTC),
        "channels": ("email", "sms", "webhook"),
    }
    return Notification(**(values | changes))  # type: ignore[arg-type]


def test_backoff_doubles_up_to_its_cap_then_gives_up() -> None:
    policy = RetryPolicy(max_attempts=6, backoff=5, backoff_max=30)
    assert [policy.retry_in(n) for n in range(1, 7)] == [5, 10, 20, 30, 30, None]


def test_signatures_follow_standard_webhooks() -> None:
    # The specification's own example (standardwebhooks.com, "Verifying webhook authenticity").
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    headers = signing.headers(secret, "msg_1", body, now=1614265330)
    assert signing.verify(secret, headers, body, now=1614265330 + 299)
    assert not signing.verify(secret, headers, body, now=1614265330 + 301)  # replayed late
    assert not signing.verify(secret, headers, body + b" ", now=1614265330)
    assert not signing.verify(secret, {}, body)


def test_templates_render_amounts_in_the_resource_unit() -> None:
    renderer = Renderer()
    email = renderer.email(notification())
    assert email.subject == "Your credit is running low: 1.95 EUR left"
    assert "down to 1.95 EUR (threshold 2.00 EUR)" in email.body
    generic = renderer.email(notification(type="data_low", resource="data_mb", unit="MB"))
    assert generic.subject == "Data low: data_mb at or below 2.00 MB"
    sms = renderer.sms(notification(type="data_low", decimals=0, unit="MB"))
    assert sms == "38640111222: EUR balance now 195 MB (threshold 200 MB)."


def test_operator_templates_override_and_typos_fail_loudly(tmp_path: Path) -> None:
    (tmp_path / "credit_low.sms.j2").write_text("Hej {{ subscriber }}: {{ value }} {{ unit }}")
    (tmp_path / "broken.sms.j2").write_text("{{ no_such_name }}")
    renderer = Renderer(tmp_path)
    assert renderer.sms(notification()) == "Hej 38640111222: 1.95 EUR"
    with pytest.raises(jinja2.UndefinedError):
        renderer.sms(notification(type="broken"))


def test_recipients_one_per_address_or_a_reason_to_skip() -> None:
    contacts = [
        Contact("billing", email="a@x.si", phone="+38640111"),
        Contact("tech", email="b@x.si"),
        Contact("other", email="a@x.si"),
    ]
    found = recipients(notification(), contacts, {"email", "webhook"}, "https://hooks.example")
    assert [(r.channel, r.address, r.skip) for r in found] == [
        ("email", "a@x.si", ""),
        ("email", "b@x.si", ""),
        ("sms", "", "sms channel not configured"),
        ("webhook", "https://hooks.example", ""),
    ]
    only_mail = [Contact("t", email="a@x.si")]
    none = recipients(notification(channels=("sms",)), only_mail, {"sms"}, None)
    assert [(r.address, r.skip) for r in none] == [("", "no phone among the account's contacts")]


def test_stream_entries_are_read_or_refused() -> None:
    fields = {
        "id": "e:x|credit-80",
        "k": "credit_low",
        "th": "credit-80",
        "acct": "1001",
        "sub": "38640111222",
        "res": "EUR",
        "level": "200",
        "value": "195",
        "dir": "f",
        "ch": "email,sms",
        "t": "1763463540000",
        "at": "1763463541000",
    }
    eur = Resource("EUR", "money", "EUR", "EUR", 2, ConsumptionOrder.EARLIEST_EXPIRY)
    n = from_entry(fields, {"EUR": eur})
    assert (n.decimals, n.unit, n.direction, n.channels) == (2, "EUR", "falling", ("email", "sms"))
    assert n.as_json()["value"] == "1.95"
    assert n.fired_at == datetime(2025, 11, 18, 10, 59, 1, tzinfo=UTC)
    assert from_entry(fields, {}).decimals == 0  # a resource gone from the catalog: raw units
    for broken in ({"ch": "fax"}, {"dir": "x"}, {"level": "lots"}, {"t": ""}):
        with pytest.raises(UnreadableEntry):
            from_entry(fields | broken, {"EUR": eur})
    with pytest.raises(UnreadableEntry):
        from_entry({k: v for k, v in fields.items() if k != "acct"}, {"EUR": eur})
