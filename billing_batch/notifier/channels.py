"""The ways a notification reaches people: e-mail (SMTP), SMS (an HTTP gateway), webhook.

Each channel is one small class with `send(outgoing) -> detail`; a failure raises DeliveryFailed
and the dispatcher decides about retries. Every message carries an id that stays the same on
retries (Message-ID, the gateway's reference, `webhook-id`), so a receiver can drop a repeat.
"""

from __future__ import annotations

import json
from typing import Protocol

import httpx

from tarif_common import signing
from tarif_jobs.mail import Mail, Mailer, MailFailed
from tarif_notifications.messages import Renderer
from tarif_notifications.model import Notification, Outgoing


class DeliveryFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Channel(Protocol):
    name: str

    async def send(self, out: Outgoing) -> str: ...


def _notification(out: Outgoing) -> Notification:
    """The notification an SMS or a webhook carries (self-care mails go by e-mail only)."""
    if not isinstance(out.notification, Notification):
        raise DeliveryFailed(f"a {out.notification.type} mail goes by e-mail only")
    return out.notification


def message_id(out: Outgoing) -> str:
    return f"tarif-delivery-{out.delivery_id}"


class EmailChannel:
    name = "email"

    def __init__(self, renderer: Renderer, mailer: Mailer) -> None:
        self._renderer = renderer
        self._mailer = mailer

    async def send(self, out: Outgoing) -> str:
        email = self._renderer.email(out.notification)
        mail = Mail(
            to=out.recipient,
            subject=email.subject,
            text=email.body,
            message_id=f"<{message_id(out)}@tarif>",
        )
        try:
            response = await self._mailer.send(mail)
        except MailFailed as exc:
            raise DeliveryFailed(str(exc)) from exc
        return f"smtp: {response}"


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], what: str
) -> str:
    try:
        response = await client.post(
            url, content=body, headers={"content-type": "application/json", **headers}
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{what}: {type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise DeliveryFailed(f"{what}: HTTP {response.status_code} {response.text[:200]}")
    return f"{what}: HTTP {response.status_code}"


class SmsGatewayChannel:
    """An HTTP SMS gateway: POST {"to", "from", "text", "reference"} with a bearer token.

    Gateways differ; another one is another small class with the same `send`.
    """

    name = "sms"

    def __init__(
        self,
        renderer: Renderer,
        client: httpx.AsyncClient,
        *,
        url: str,
        sender: str,
        token: str | None = None,
    ) -> None:
        self._renderer, self._client = renderer, client
        self._url, self._sender, self._token = url, sender, token

    async def send(self, out: Outgoing) -> str:
        body = json.dumps(
            {
                "to": out.recipient,
                "from": self._sender,
                "text": self._renderer.sms(_notification(out)),
                "reference": message_id(out),
            }
        ).encode()
        headers = {"idempotency-key": message_id(out)}
        if self._token:
            headers["authorization"] = f"Bearer {self._token}"
        return await _post(self._client, self._url, body, headers, "sms gateway")


class WebhookChannel:
    """A signed JSON POST of the notification to the operator's endpoint."""

    name = "webhook"

    def __init__(self, client: httpx.AsyncClient, *, secret: str) -> None:
        self._client, self._secret = client, secret

    async def send(self, out: Outgoing) -> str:
        body = json.dumps(
            {"type": "notification.threshold_crossed", "data": _notification(out).as_json()},
            separators=(",", ":"),
        ).encode()
        headers = signing.headers(self._secret, message_id(out), body)
        return await _post(self._client, out.recipient, body, headers, "webhook")
