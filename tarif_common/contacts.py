"""Where a customer is told things (notifications): one model for the provisioning documents
and the admin API, so both accept and refuse the same contacts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] = "primary"
    email: Annotated[EmailStr, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{6,15}$")] | None = None

    @model_validator(mode="after")
    def _some_address(self) -> Contact:
        if self.email is None and self.phone is None:
            raise ValueError("a contact needs an email or a phone")
        return self


def unique_tags(contacts: list[Contact] | None) -> list[Contact] | None:
    """A field validator for a list of contacts: each tag once."""
    tags = [c.tag for c in contacts or []]
    if len(set(tags)) != len(tags):
        raise ValueError("contact tags repeat")
    return contacts
