"""Webhook signatures as in the Standard Webhooks specification (standardwebhooks.com).

Headers `webhook-id` (the same on every retry of a message: receivers deduplicate on it),
`webhook-timestamp` (Unix seconds) and `webhook-signature`: `v1,` + base64 of
HMAC-SHA256(secret, "<id>.<timestamp>.<body>"). A secret written `whsec_<base64>` is decoded
as the spec says; any other secret is used as its UTF-8 bytes.

Shared by the notifier's webhooks and the export job's webhook destination (a file too large to
hold in memory is signed from its chunks: `headers_of_chunks`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    return signature_of_chunks(secret, msg_id, timestamp, (body,))


def signature_of_chunks(secret: str, msg_id: str, timestamp: int, chunks: Iterable[bytes]) -> str:
    """The signature of the body made of `chunks` (read once, never held whole)."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode(), hashlib.sha256)
    for chunk in chunks:
        mac.update(chunk)
    return "v1," + base64.b64encode(mac.digest()).decode()


def headers(secret: str, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    return headers_of_chunks(secret, msg_id, (body,), now)


def headers_of_chunks(
    secret: str, msg_id: str, chunks: Iterable[bytes], now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_of_chunks(secret, msg_id, timestamp, chunks),
    }


def verify(
    secret: str,
    received: dict[str, str],
    body: bytes,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """What a receiver checks: a matching signature on a recent timestamp."""
    try:
        msg_id, timestamp = received["webhook-id"], int(received["webhook-timestamp"])
        offered = received["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
