"""Self-care users: created, edited, disabled, deleted; verification and reset tokens e-mailed to
the user through the notifier, used once."""

from __future__ import annotations

import re
from typing import Any

from tests.integration.admin_harness import Admin, onboarding
from tests.integration.notifier_harness import eventually, running_batch
from tests.servers import SmtpSink, smtp_sink


def mailed_token(smtp: SmtpSink, subject: str) -> str:
    """The one-time code of the e-mail with this subject (alone on its line)."""
    (message,) = [m for m in smtp.messages if m["Subject"] == subject]
    body = message.get_payload(decode=True).decode()
    found = re.search(r"^([A-Za-z0-9_-]{43})\r?$", body, re.MULTILINE)
    assert found, body
    return found.group(1)


async def no_token_kept(admin: Admin) -> bool:
    """Sent or given up, a mail's token is not kept in Postgres."""
    async with admin.pool.acquire() as conn:
        kept: int = await conn.fetchval(
            "SELECT count(*) FROM selfcare_mails WHERE token IS NOT NULL"
        )
    return kept == 0


async def delivery_statuses(admin: Admin) -> dict[int, str]:
    async with admin.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, status FROM notification_deliveries WHERE selfcare_mail_id IS NOT NULL"
        )
    return {r["id"]: r["status"] for r in rows}


async def customer_path(admin: Admin) -> str:
    created = await admin.call("POST", "/v1/customers", json=onboarding("38640555300"))
    return f"/v1/customers/{created.json()['id']}/selfcare-user"


async def login(admin: Admin, email: str, password: str) -> Any:
    return await admin.call(
        "POST", "/v1/selfcare/login", "operator", json={"email": email, "password": password}
    )


async def test_a_self_care_user_from_creation_to_deletion(
    admin: Admin, redis_url: str, database_url: str
) -> None:
    path = await customer_path(admin)
    assert (await admin.call("GET", path)).status_code == 404
    body = {"email": "ana@example.com", "password": "correct horse battery"}
    created = await admin.call("POST", path, json=body)
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["email"], user["enabled"], user["email_verified"]) == (
        "ana@example.com",
        True,
        False,
    )
    assert "password" not in str(user)
    assert "hash" not in str(user)
    async with admin.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM selfcare_users")
    assert stored.startswith("$argon2id$")
    assert (await admin.call("POST", path, json=body)).status_code == 409

    ok = await login(admin, "ANA@example.com", "correct horse battery")
    assert ok.json()["customer_id"] == user["customer_id"]
    assert (await login(admin, "ana@example.com", "wrong password!")).status_code == 401
    assert (await login(admin, "nobody@example.com", "whatever1234")).status_code == 401

    # the tokens go to the user by e-mail (the notifier's deliveries), not to the operator
    asked = await admin.call("POST", f"{path}/verification", "operator")
    assert asked.status_code == 200, asked.text
    assert set(asked.json()) == {"email", "expires_at", "delivery_id"}
    assert asked.json()["email"] == "ana@example.com"
    first_reset = await admin.call("POST", f"{path}/password-reset", "operator")
    second_reset = await admin.call("POST", f"{path}/password-reset", "operator")
    assert "token" not in first_reset.json()
    with smtp_sink() as smtp:
        async with running_batch(
            redis_url, database_url, smtp_host="127.0.0.1", smtp_port=smtp.port
        ):
            await eventually(lambda: len(smtp.messages) == 2)
            await eventually(lambda: no_token_kept(admin))
    assert smtp.envelopes == [("notifications@localhost", ["ana@example.com"])] * 2
    token = mailed_token(smtp, "Confirm your e-mail address")
    reset = mailed_token(smtp, "Reset your password")
    assert await delivery_statuses(admin) == {
        asked.json()["delivery_id"]: "delivered",
        first_reset.json()["delivery_id"]: "skipped",  # superseded: its token no longer works
        second_reset.json()["delivery_id"]: "delivered",
    }

    wrong = await admin.call("POST", f"{path}/verify", "operator", json={"token": "x" + token})
    assert (wrong.status_code, wrong.json()["field"]) == (422, "body.token")
    verified = await admin.call("POST", f"{path}/verify", "operator", json={"token": token})
    assert verified.json()["email_verified"] is True
    reused = await admin.call("POST", f"{path}/verify", "operator", json={"token": token})
    assert reused.status_code == 422  # single use
    assert (await admin.call("POST", f"{path}/verification", "operator")).status_code == 409

    new = {"token": reset, "password": "a much better passphrase"}
    done = await admin.call("POST", f"{path}/password-reset/confirm", "operator", json=new)
    assert done.status_code == 200
    assert (await login(admin, "ana@example.com", "correct horse battery")).status_code == 401
    assert (await login(admin, "ana@example.com", "a much better passphrase")).status_code == 200
    again = await admin.call("POST", f"{path}/password-reset/confirm", "operator", json=new)
    assert again.status_code == 422

    changed = await admin.call("PATCH", path, json={"email": "ana.new@example.com"})
    assert changed.json()["email_verified"] is False  # a new address is verified again
    pending = (await admin.call("POST", f"{path}/verification", "operator")).json()
    assert pending["email"] == "ana.new@example.com"
    await admin.call("PATCH", path, json={"email": "ana.other@example.com"})
    # the mail to the address given up is not sent
    assert (await delivery_statuses(admin))[pending["delivery_id"]] == "skipped"
    disabled = await admin.call("PATCH", path, json={"enabled": False})
    assert disabled.json()["enabled"] is False
    assert (
        await login(admin, "ana.new@example.com", "a much better passphrase")
    ).status_code == 401
    assert (await admin.call("PATCH", path, json={"password": "short"})).status_code == 422
    assert (await admin.call("PATCH", path, json={})).status_code == 422
    assert (await admin.call("DELETE", path, "operator")).status_code == 403
    assert (await admin.call("DELETE", path)).status_code == 204
    assert (await admin.call("GET", path)).status_code == 404
    log = (await admin.call("GET", "/v1/audit-log", params={"object_type": "customer"})).json()
    actions = [e["action"] for e in log["items"] if e["action"].startswith("selfcare")]
    assert actions[0] == "selfcare.delete"
    assert "selfcare.create" in actions
    assert all("correct horse" not in str(e) for e in log["items"])  # no password in the log
    assert all(token not in str(e) and reset not in str(e) for e in log["items"])
