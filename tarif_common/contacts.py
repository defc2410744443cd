"""Where a customer is told things (notifications) and who it is reached through: one model for
the provisioning documents and the admin API, so both accept and refuse the same contacts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
Email = Annotated[EmailStr, Field(max_length=254)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9]{6,15}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
AddressLines = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=1, max_length=4)
]
Postcode = Annotated[str, Field(min_length=1, max_length=20)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]

# the fields besides the tag, in the order the store keeps them
DETAILS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "organisation",
    "address_lines",
    "city",
    "postcode",
    "country",
)


class Contact(BaseModel):
    """A contact card: an e-mail or a phone (the notifier needs one), and optionally the
    person's name, organisation and postal address (up to four lines, city, postcode,
    ISO 3166 country code)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tag: Tag = "primary"
    email: Email | None = None
    phone: Phone | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    organisation: Name | None = None
    address_lines: AddressLines | None = None
    city: Name | None = None
    postcode: Postcode | None = None
    country: Country | None = None

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
