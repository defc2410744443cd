"""Self-care users: created, edited, disabled, deleted; verification and reset tokens once."""

from __future__ import annotations

from typing import Any

from tests.integration.admin_harness import Admin, onboarding


async def customer_path(admin: Admin) -> str:
    created = await admin.call("POST", "/v1/customers", json=onboarding("38640555300"))
    return f"/v1/customers/{created.json()['id']}/selfcare-user"


async def login(admin: Admin, email: str, password: str) -> Any:
    return await admin.call(
        "POST", "/v1/selfcare/login", "operator", json={"email": email, "password": password}
    )


async def test_a_self_care_user_from_creation_to_deletion(admin: Admin) -> None:
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

    token = (await admin.call("POST", f"{path}/verification", "operator")).json()["token"]
    wrong = await admin.call("POST", f"{path}/verify", "operator", json={"token": "x" + token})
    assert (wrong.status_code, wrong.json()["field"]) == (422, "body.token")
    verified = await admin.call("POST", f"{path}/verify", "operator", json={"token": token})
    assert verified.json()["email_verified"] is True
    reused = await admin.call("POST", f"{path}/verify", "operator", json={"token": token})
    assert reused.status_code == 422  # single use
    assert (await admin.call("POST", f"{path}/verification", "operator")).status_code == 409

    reset = (await admin.call("POST", f"{path}/password-reset", "operator")).json()["token"]
    new = {"token": reset, "password": "a much better passphrase"}
    done = await admin.call("POST", f"{path}/password-reset/confirm", "operator", json=new)
    assert done.status_code == 200
    assert (await login(admin, "ana@example.com", "correct horse battery")).status_code == 401
    assert (await login(admin, "ana@example.com", "a much better passphrase")).status_code == 200
    again = await admin.call("POST", f"{path}/password-reset/confirm", "operator", json=new)
    assert again.status_code == 422

    changed = await admin.call("PATCH", path, json={"email": "ana.new@example.com"})
    assert changed.json()["email_verified"] is False  # a new address is verified again
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
