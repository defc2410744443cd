"""The answer models and the routes that use them: exactly the fields a service gives."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import ValidationError

from admin_api.answers.subscriptions import PlanChanged, VoucherUsed
from admin_api.app import State, create_app
from admin_api.routes.answering import AnswerRoute
from tarif_common.settings import Settings


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """The app's operations, inside included routers too (FastAPI may keep them nested)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_every_route_answers_exactly_the_fields_given() -> None:
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    app = create_app(State(settings, None, None, None, None, None))  # type: ignore[arg-type]
    routes = list(api_routes(app.routes))
    assert len(routes) > 80
    plain = [r.path for r in routes if not isinstance(r, AnswerRoute)]
    assert not plain, f"not answered through admin_api.routes.answering: {plain}"
    assert all(r.response_model_exclude_unset for r in routes)


def test_an_answer_refuses_a_field_it_does_not_declare() -> None:
    with pytest.raises(ValidationError, match="extra"):
        PlanChanged.model_validate({"plan": "basic", "status": "done", "price": "1.00"})


def test_a_field_left_out_stays_out() -> None:
    done = PlanChanged.model_validate({"plan": "basic", "status": "done"})
    assert done.model_dump(mode="json", exclude_unset=True) == {"plan": "basic", "status": "done"}


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        ({"code": "PACK1", "products": [], "account": "C1"}, "PackVoucherUsed"),
        (
            {
                "id": 1, "request_id": "voucher-X-1", "customer_id": 1, "balance_id": "main",
                "amount": "5.00", "reason": "voucher X", "tax": None, "tax_provider": None,
                "ledger": None, "status": "applied", "result": "SUCCESS", "balance_after": "15.00",
                "requested_by": "key:tk_1", "requested_at": "2026-01-01T00:00:00Z",
                "applied_at": "2026-01-01T00:00:01Z",
            },
            "AdjustmentRecord",
        ),
    ],
)  # fmt: skip
def test_a_voucher_answers_its_adjustment_or_its_products(given: dict[str, Any], kind: str) -> None:
    from pydantic import TypeAdapter

    assert type(TypeAdapter(VoucherUsed).validate_python(given)).__name__ == kind


def test_a_notification_answers_what_the_store_lists() -> None:
    """The listing's items are the notifier's `as_json` plus the deliveries (from SQL)."""
    from datetime import UTC, datetime

    from admin_api.answers.customers import Notification as Answered
    from tarif_notifications.model import Notification

    at = datetime(2026, 1, 1, tzinfo=UTC)
    listed = Notification(
        "C1", "e:1|low", "38640555001", "low_balance", "low", "EUR", "falling", 500, 450, 2,
        "EUR", at, at, ("email",), id=7,
    ).as_json() | {
        "deliveries": [
            {"channel": "email", "recipient": "ana@example.com", "status": "delivered",
             "attempts": 1, "last_error": "", "delivered_at": "2026-01-01T00:00:01+00:00"},
        ]
    }  # fmt: skip
    answered = Answered.model_validate(listed).model_dump(mode="json", exclude_unset=True)
    assert answered == listed
