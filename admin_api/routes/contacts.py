"""/v1/customers/{id}/contacts: a customer's contacts, one tag at a time or as a whole list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response

from admin_api import contacts
from admin_api.answers.customers import ContactAnswer, ContactList
from admin_api.auth import Admin, Reader
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import ContactPatch, Contacts
from tarif_common.contacts import Contact

router = new_router(prefix="/v1/customers/{customer_id}/contacts", tags=["customers"])

CustomerId = Annotated[int, Path(ge=1, le=2**62)]
Tag = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]


@router.get("", response_model=ContactList, summary="The contacts")
async def list_contacts(_: Reader, pool: Pool, customer_id: CustomerId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return {"contacts": await contacts.list_contacts(conn, customer_id)}


@router.put("", response_model=ContactList, summary="Replace the contacts (the whole list)")
async def put_contacts(
    who: Admin, pool: Pool, customer_id: CustomerId, body: Contacts
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        await contacts.replace(conn, who, customer_id, body)
        return {"contacts": await contacts.list_contacts(conn, customer_id)}


@router.post("", status_code=201, response_model=ContactAnswer, summary="Add a contact")
async def add_contact(
    who: Admin, pool: Pool, customer_id: CustomerId, body: Contact
) -> dict[str, Any]:
    """409 if the customer has a contact with this tag (or 20 contacts) already."""
    async with pool.acquire() as conn:
        return await contacts.add(conn, who, customer_id, body)


@router.get("/{tag}", response_model=ContactAnswer, summary="One contact")
async def get_contact(_: Reader, pool: Pool, customer_id: CustomerId, tag: Tag) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await contacts.get(conn, customer_id, tag)


@router.patch("/{tag}", response_model=ContactAnswer, summary="Edit a contact")
async def patch_contact(
    who: Admin, pool: Pool, customer_id: CustomerId, tag: Tag, body: ContactPatch
) -> dict[str, Any]:
    """The fields given change, `null` removes one; it keeps an e-mail or a phone (422)."""
    async with pool.acquire() as conn:
        return await contacts.update(conn, who, customer_id, tag, body)


@router.delete("/{tag}", status_code=204, summary="Delete a contact")
async def delete_contact(who: Admin, pool: Pool, customer_id: CustomerId, tag: Tag) -> Response:
    async with pool.acquire() as conn:
        await contacts.delete(conn, who, customer_id, tag)
    return Response(status_code=204)
