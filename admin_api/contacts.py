"""A customer's contacts: added, edited and deleted one tag at a time, or replaced as a list.

Contacts are kept under the customer's engine account id (the notifier reads them there). Each
change locks the customer row, so two edits of one customer's contacts never interleave, and
lands with its audit record in one transaction.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import ValidationError

from admin_api import audit
from admin_api.auth import Principal
from admin_api.schemas import ContactPatch, Contacts
from tarif_common.contacts import Contact as ContactCard
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_notifications import store
from tarif_notifications.store import Contact
from tarif_postgres import queries

Q = queries.load("contacts")
CUSTOMERS = queries.load("customers")

MAX_CONTACTS = 20  # as many as a PUT or an onboarding may give


async def _account(conn: asyncpg.Connection, customer_id: int) -> str:
    """The customer's engine account id, its row locked until the transaction ends."""
    row = await conn.fetchrow(CUSTOMERS.lock_customer_status, customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    if row["status"] == "deleted":
        raise Conflict(f"customer {customer_id} is deleted")
    return str(row["account_id"])


async def _record(
    conn: asyncpg.Connection, who: Principal, customer_id: int, before: Any, after: Any
) -> None:
    await audit.record(conn, who, "customer.contacts", "customer", str(customer_id), before, after)


async def list_contacts(conn: asyncpg.Connection, customer_id: int) -> list[dict[str, Any]]:
    account_id = await conn.fetchval(CUSTOMERS.customer_account_id, customer_id)
    if account_id is None:
        raise NotFound(f"no customer {customer_id}")
    return [c.as_json() for c in await store.contacts_of_account(conn, account_id)]


async def get(conn: asyncpg.Connection, customer_id: int, tag: str) -> dict[str, Any]:
    account_id = await conn.fetchval(CUSTOMERS.customer_account_id, customer_id)
    if account_id is None:
        raise NotFound(f"no customer {customer_id}")
    row = await conn.fetchrow(Q.contact_of_account, account_id, tag)
    if row is None:
        raise NotFound(f"customer {customer_id} has no contact {tag!r}")
    return Contact.from_row(row).as_json()


async def add(
    conn: asyncpg.Connection, who: Principal, customer_id: int, card: ContactCard
) -> dict[str, Any]:
    """A new contact; its tag must be new for this customer (409 otherwise)."""
    contact = Contact.of(card)
    async with conn.transaction():
        account_id = await _account(conn, customer_id)
        if len(await store.contacts_of_account(conn, account_id)) >= MAX_CONTACTS:
            raise Conflict(f"customer {customer_id} has {MAX_CONTACTS} contacts already")
        try:
            await store.add_contacts(conn, account_id, [contact])
        except Duplicate:
            raise Conflict(f"customer {customer_id} has a contact {card.tag!r} already") from None
        await _record(conn, who, customer_id, None, contact.as_json())
    return contact.as_json()


async def update(
    conn: asyncpg.Connection, who: Principal, customer_id: int, tag: str, patch: ContactPatch
) -> dict[str, Any]:
    """Change the fields given; the result must still be a valid contact (422 otherwise)."""
    changes = patch.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("body", "nothing to change")
    async with conn.transaction():
        account_id = await _account(conn, customer_id)
        row = await conn.fetchrow(Q.contact_of_account, account_id, tag)
        if row is None:
            raise NotFound(f"customer {customer_id} has no contact {tag!r}")
        before = Contact.from_row(row).as_json()
        try:
            card = ContactCard.model_validate(before | changes)
        except ValidationError as exc:  # e.g. both the e-mail and the phone removed
            raise InvalidRequest("body", exc.errors()[0]["msg"]) from None
        after = Contact.of(card)
        await conn.fetchval(Q.update_contact, *after.args(account_id))
        await _record(conn, who, customer_id, {k: before.get(k) for k in changes}, after.as_json())
    return after.as_json()


async def delete(conn: asyncpg.Connection, who: Principal, customer_id: int, tag: str) -> None:
    async with conn.transaction():
        account_id = await _account(conn, customer_id)
        row = await conn.fetchrow(Q.contact_of_account, account_id, tag)
        if row is None:
            raise NotFound(f"customer {customer_id} has no contact {tag!r}")
        await conn.execute(Q.delete_contact, account_id, tag)
        await _record(conn, who, customer_id, Contact.from_row(row).as_json(), None)


async def replace(
    conn: asyncpg.Connection, who: Principal, customer_id: int, body: Contacts
) -> None:
    """The whole list at once (PUT): what is not in it is deleted."""
    async with conn.transaction():
        account_id = await _account(conn, customer_id)
        before = await store.contacts_of_account(conn, account_id)
        after = [Contact.of(c) for c in body.contacts]
        await store.put_contacts(conn, account_id, after)
        await _record(
            conn, who, customer_id, [c.as_json() for c in before], [c.as_json() for c in after]
        )
