"""The payment gateway as the back office sees it: charge a card token, refund a charge.

Every request carries an idempotency key: the gateway answers the same key with the same
outcome and never charges it twice. That is what makes a lost answer safe: the caller sends the
request again under the same key. An adapter for another gateway (Stripe, Adyen, ...) is one more
class with these two methods; the back office never sees a card number, only the gateway's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Charge:
    """Take `amount` of `currency` from the card behind `token`, once per `idempotency_key`."""

    token: str
    amount: Decimal
    currency: str
    idempotency_key: str
    reference: str = ""  # ours, e.g. the invoice number: the gateway shows it with the charge
    description: str = ""


@dataclass(frozen=True, slots=True)
class Refund:
    """Give back `amount` of an approved charge, once per `idempotency_key`."""

    charge_id: str
    amount: Decimal
    currency: str
    idempotency_key: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Approved:
    """The gateway took (or gave back) the money; `id` is its charge or refund id."""

    id: str
    amount: Decimal
    currency: str
    replayed: bool = False  # the key was answered before: nothing new was taken


@dataclass(frozen=True, slots=True)
class Declined:
    """A definite no: nothing was taken. `code` is the gateway's (insufficient_funds,
    expired_card, ...), `message` its text for people."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class GatewayError:
    """No usable answer: the gateway was down, timed out or refused the request itself. Whether
    the money was taken is unknown, so the request is only ever sent again under the same key.
    `transient`: worth sending again soon (a timeout, a 5xx, a 429); otherwise only after
    someone fixed something (the gateway's key, its URL)."""

    code: str
    message: str
    transient: bool = True
    retry_after: float | None = None  # seconds, when the gateway said so


Outcome = Approved | Declined | GatewayError


class PaymentGateway(Protocol):
    """What the back office needs of a payment gateway. Implementations never raise for the
    gateway's answers or its absence: every result is an `Outcome`."""

    async def charge(self, charge: Charge) -> Outcome: ...

    async def refund(self, refund: Refund) -> Outcome: ...
