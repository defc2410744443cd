"""The payment gateway over HTTP JSON (`TARIF_PAYMENT_GATEWAY_URL`, `TARIF_PAYMENT_GATEWAY_KEY`).

The wire protocol (docs/payment-collection.md has it in full; loadtest/gateway_sandbox.py
serves it):

    POST {url}/v1/charges   {"token", "amount": "12.20", "currency", "reference", "description"}
    POST {url}/v1/refunds   {"charge_id", "amount", "currency", "reason"}
    headers: Authorization: Bearer <key>, Idempotency-Key: <key>, Content-Type: application/json

    200 {"id", "status": "approved", "amount", "currency"}  (+ Idempotent-Replayed: true)
    402 {"status": "declined", "code", "message"}           a definite no
    429, 5xx (Retry-After)                                  transient: send again, same key
    other 4xx {"status": "error", "code", "message"}        our request or key is wrong

Amounts travel as decimal strings, never JSON numbers. A gateway with another protocol gets a
class of its own with the same two methods (`tarif_billing.gateway.protocol.PaymentGateway`).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self

import httpx

from tarif_billing.gateway.protocol import (
    Approved,
    Charge,
    Declined,
    GatewayError,
    Outcome,
    Refund,
)
from tarif_common.settings import Settings


class NotConfigured(Exception):
    """TARIF_PAYMENT_GATEWAY_URL is not set: cards cannot be charged."""


class HttpGateway:
    """`PaymentGateway` over the wire protocol above, `max_connections` requests at a time.

    Each connection is an `httpx.AsyncClient` of its own, lent to one request at a time: one
    client with a pool of N connections costs O(N) of pool bookkeeping per request in httpcore
    (about twice the CPU per charge at 16 connections, measured against the sandbox)."""

    def __init__(
        self, url: str, key: str, *, timeout: float = 10.0, max_connections: int = 16
    ) -> None:
        tls = ssl.create_default_context()  # one for all clients: each would load the CAs again
        self._clients = [
            httpx.AsyncClient(
                verify=tls,
                base_url=url.rstrip("/"),
                headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
                timeout=timeout,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            for _ in range(max_connections)
        ]
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in self._clients:
            self._free.put_nowait(client)

    @classmethod
    def from_settings(cls, s: Settings, *, max_connections: int | None = None) -> HttpGateway:
        """The gateway the settings name (`max_connections` default: the collection's
        concurrency); `NotConfigured` without a URL."""
        if not s.payment_gateway_url:
            raise NotConfigured(NotConfigured.__doc__)
        return cls(
            s.payment_gateway_url,
            s.payment_gateway_key or "",
            timeout=s.payment_gateway_timeout,
            max_connections=max_connections or s.payment_collection_concurrency,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def charge(self, charge: Charge) -> Outcome:
        body = {
            "token": charge.token,
            "amount": str(charge.amount),
            "currency": charge.currency,
            "reference": charge.reference,
            "description": charge.description,
        }
        return await self._post("/v1/charges", charge.idempotency_key, body, charge.amount)

    async def refund(self, refund: Refund) -> Outcome:
        body = {
            "charge_id": refund.charge_id,
            "amount": str(refund.amount),
            "currency": refund.currency,
            "reason": refund.reason,
        }
        return await self._post("/v1/refunds", refund.idempotency_key, body, refund.amount)

    async def _post(self, path: str, key: str, body: dict[str, str], amount: Decimal) -> Outcome:
        client = await self._free.get()
        try:
            response = await client.post(
                path, content=json.dumps(body).encode(), headers={"idempotency-key": key}
            )
        except httpx.TimeoutException as exc:
            return GatewayError("timeout", f"no answer from the gateway in time ({exc!r})")
        except httpx.HTTPError as exc:
            return GatewayError("unreachable", f"the gateway cannot be reached ({exc!r})")
        finally:
            self._free.put_nowait(client)
        return answer(response, amount, body["currency"])


def answer(response: httpx.Response, amount: Decimal, currency: str) -> Outcome:
    """The outcome a gateway's HTTP answer means (see the module docstring)."""
    status = response.status_code
    data = _json(response)
    code = str(data.get("code") or f"http_{status}")
    message = str(data.get("message") or response.reason_phrase or "")
    if status in (200, 201):
        try:
            approved = Approved(
                str(data["id"]),
                Decimal(str(data["amount"])),
                str(data["currency"]),
                replayed=response.headers.get("idempotent-replayed") == "true",
            )
        except (KeyError, InvalidOperation) as exc:
            return GatewayError("bad_answer", f"unreadable approval: {exc!r}", transient=False)
        if data.get("status") != "approved" or (approved.amount, approved.currency) != (
            amount,
            currency,
        ):
            return GatewayError(
                "bad_answer",
                f"the gateway answered {data.get('status')} {approved.amount}"
                f" {approved.currency} for {amount} {currency}",
                transient=False,
            )
        return approved
    if status == 402:
        return Declined(code, message)
    if status == 429 or status >= 500:
        return GatewayError(code, message, retry_after=_retry_after(response))
    return GatewayError(code, message, transient=False)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = json.loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None
