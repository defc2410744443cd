"""A sandbox payment gateway: a real local HTTP server speaking the wire protocol of
`tarif_billing.gateway.http` (docs/payment-collection.md), for tests and the collection
benchmark. `python -m loadtest.gateway_sandbox --port 8099 --key sk_test` serves it alone.

Test tokens say what happens to a charge:

| token | answer |
| --- | --- |
| `tok_ok...`, `tok_visa...` | approved |
| `tok_decline_<code>` | declined (402) with that code (`tok_decline_insufficient_funds`, ...) |
| `tok_flaky_<n>...` | 503 (Retry-After: 0) the first n times a key is sent, then approved |
| `tok_down...` | always 503 |
| `tok_slow_<ms>...` | approved after ms milliseconds |
| anything else | declined: `unknown_token` |

An idempotency key is answered once: the same key with the same request gets the stored
answer (approved or declined; `Idempotent-Replayed: true`) and never charges again; with another
request, 409. Transient answers are not stored. `GET /sandbox/stats` counts what was charged.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import uvicorn

from tarif_common.embedded import free_port

Scope = dict[str, Any]
JSON = [(b"content-type", b"application/json")]


@dataclass
class Stored:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class Sandbox:
    """The gateway's state: what each key was answered, the charges and refunds made."""

    key: str = "sk_test_sandbox"
    url: str = ""
    answers: dict[str, Stored] = field(default_factory=dict)
    charges: dict[str, dict[str, str]] = field(default_factory=dict)  # approved, by charge id
    refunds: dict[str, dict[str, str]] = field(default_factory=dict)
    transient: dict[str, int] = field(default_factory=dict)  # 503s answered, by key
    requests: int = 0
    declines: int = 0

    def charged(self, token: str | None = None) -> list[dict[str, str]]:
        """The approved charges (of one token)."""
        return [c for c in self.charges.values() if token is None or c["token"] == token]

    def stats(self) -> dict[str, Any]:
        total = sum((Decimal(c["amount"]) for c in self.charges.values()), Decimal(0))
        return {
            "requests": self.requests,
            "charges": len(self.charges),
            "declines": self.declines,
            "refunds": len(self.refunds),
            "amount": str(total),
            "transient": sum(self.transient.values()),
        }

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests += 1
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, answer, extra = await self._answer(scope["method"], scope["path"], headers, body)
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*JSON, (b"content-length", str(len(payload)).encode()), *extra],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
        if method == "GET" and path == "/sandbox/stats":
            return 200, self.stats(), []
        if method != "POST" or path not in ("/v1/charges", "/v1/refunds"):
            return 404, _error("not_found", f"no {method} {path}"), []
        if headers.get("authorization") != f"Bearer {self.key}":
            return 401, _error("unauthorized", "unknown API key"), []
        key = headers.get("idempotency-key", "")
        if not 1 <= len(key) <= 255:
            return 400, _error("idempotency_key_missing", "send an Idempotency-Key"), []
        try:
            request = json.loads(body)
            amount = Decimal(str(request["amount"]))
            currency = str(request["currency"])
            if amount <= 0 or len(currency) != 3 or isinstance(request["amount"], float):
                raise ValueError("amount or currency")
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            return 422, _error("invalid_request", f"unreadable request: {exc!r}"), []
        fingerprint = hashlib.sha256(path.encode() + body).hexdigest()
        scoped = f"{path}:{key}"
        if (stored := self.answers.get(scoped)) is not None:
            if stored.fingerprint != fingerprint:
                reused = _error("idempotency_key_reused", "the key was used for another request")
                return 409, reused, []
            return stored.status, json.loads(stored.body), [(b"idempotent-replayed", b"true")]
        if path == "/v1/charges":
            status, answer = await self._charge(key, request, amount, currency)
        else:
            status, answer = self._refund(key, request, amount, currency)
        if status in (200, 402):
            self.answers[scoped] = Stored(fingerprint, status, json.dumps(answer).encode())
        extra = [(b"retry-after", b"0")] if status == 503 else []
        return status, answer, extra

    async def _charge(
        self, key: str, request: dict[str, Any], amount: Decimal, currency: str
    ) -> tuple[int, dict[str, Any]]:
        token = str(request.get("token", ""))
        if token.startswith("tok_flaky_"):
            failures = int(token.removeprefix("tok_flaky_").split("_")[0] or 0)
            if self.transient.get(key, 0) < failures:
                self.transient[key] = self.transient.get(key, 0) + 1
                return 503, _error("unavailable", "try again")
        elif token.startswith("tok_down"):
            self.transient[key] = self.transient.get(key, 0) + 1
            return 503, _error("unavailable", "the acquirer is down")
        elif token.startswith("tok_slow_"):
            await asyncio.sleep(int(token.removeprefix("tok_slow_").split("_")[0]) / 1000)
        elif token.startswith("tok_decline_"):
            self.declines += 1
            code = token.removeprefix("tok_decline_")
            return 402, {"status": "declined", "code": code, "message": _MESSAGES.get(code, code)}
        elif not token.startswith(("tok_ok", "tok_visa")):
            self.declines += 1
            return 402, {"status": "declined", "code": "unknown_token", "message": "no such card"}
        charge_id = f"ch_{len(self.charges) + 1:08d}"
        self.charges[charge_id] = {
            "id": charge_id,
            "token": token,
            "amount": str(amount),
            "currency": currency,
            "reference": str(request.get("reference", "")),
            "key": key,
        }
        return 200, {
            "id": charge_id,
            "status": "approved",
            "amount": str(amount),
            "currency": currency,
        }

    def _refund(
        self, key: str, request: dict[str, Any], amount: Decimal, currency: str
    ) -> tuple[int, dict[str, Any]]:
        charge = self.charges.get(str(request.get("charge_id", "")))
        if charge is None or charge["currency"] != currency:
            return 402, {
                "status": "declined",
                "code": "charge_not_found",
                "message": "no such charge",
            }
        refunded = sum(
            (Decimal(r["amount"]) for r in self.refunds.values() if r["charge_id"] == charge["id"]),
            Decimal(0),
        )
        if refunded + amount > Decimal(charge["amount"]):
            return 402, _declined("amount_exceeds_charge", "more than was charged")
        refund_id = f"re_{len(self.refunds) + 1:08d}"
        self.refunds[refund_id] = {
            "id": refund_id,
            "charge_id": charge["id"],
            "amount": str(amount),
        }
        return 200, {
            "id": refund_id,
            "status": "approved",
            "amount": str(amount),
            "currency": currency,
        }


_MESSAGES = {
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "do_not_honor": "The card issuer declined the charge.",
    "stolen_card": "The card was reported stolen.",
}


def _approved(id: str, amount: Decimal, currency: str) -> dict[str, str]:
    return {"id": id, "status": "approved", "amount": str(amount), "currency": currency}


def _declined(code: str, message: str) -> dict[str, str]:
    return {"status": "declined", "code": code, "message": message}


def _error(code: str, message: str) -> dict[str, str]:
    return {"status": "error", "code": code, "message": message}


def _config(sandbox: Sandbox, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        sandbox,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="httptools",
        backlog=1024,
    )


@contextmanager
def running(sandbox: Sandbox | None = None) -> Iterator[Sandbox]:
    """The sandbox served on a free port of 127.0.0.1 from a thread of its own (`sandbox.url`),
    stopped on exit."""
    sandbox = sandbox or Sandbox()
    port = free_port()
    server = uvicorn.Server(_config(sandbox, port))
    thread = threading.Thread(target=server.run, name="gateway-sandbox", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the gateway sandbox did not start")
        threading.Event().wait(0.01)
    sandbox.url = f"http://127.0.0.1:{port}"
    try:
        yield sandbox
    finally:
        server.should_exit = True
        thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description="The sandbox payment gateway")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default=Sandbox.key)
    args = parser.parse_args()
    uvicorn.Server(_config(Sandbox(key=args.key), args.port)).run()


if __name__ == "__main__":
    main()
