"""Answers about sharing and hierarchy groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admin_api.answers.base import Answer, free_form


class GroupSummary(Answer):
    """A group in a list, with its number of members."""

    id: str
    owner_id: int
    status: str
    members: int


class SharingMember(Answer):
    customer_id: int
    status: str
    joined_at: datetime


class SharingGroup(Answer):
    """An owner's balances shared with its members."""

    id: str
    owner_id: int
    status: str
    valid_from: datetime | None
    valid_to: datetime | None
    policy: dict[str, Any] = free_form(
        'the sharing policy as given: {"order": "own_first", "resources": {...}}'
    )
    created_at: datetime
    updated_at: datetime
    members: list[SharingMember]


class HierarchyMember(Answer):
    customer_id: int
    joined_at: datetime


class HierarchyGroup(Answer):
    """Whose invoices go to the owner's billing profile."""

    id: str
    owner_id: int
    billing_profile_id: int
    status: str
    created_at: datetime
    updated_at: datetime
    members: list[HierarchyMember]
