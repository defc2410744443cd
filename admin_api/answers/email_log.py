"""Answers about the e-mail log: one message the back office sent or tried to send."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from admin_api.answers.base import Answer


class EmailMessage(Answer):
    id: int
    message_key: str = Field(
        description="what the message is for, e.g. `invoice:17:issued`: sent once per key"
    )
    kind: str = Field(description="`invoice` (invoices and credit notes), `reminder`, `export`")
    object_type: str | None = Field(description="the object it is about, e.g. `invoice`")
    object_id: str | None
    recipient: str
    subject: str
    attachments: list[str] = Field(description="file names of the attachments")
    status: str = Field(description="`pending` (being sent), `sent` or `failed`")
    attempts: int
    error: str | None = Field(description="why the last attempt failed")
    smtp_response: str | None = Field(description="the SMTP server's answer when it was sent")
    run_id: int | None = Field(description="the job run that sent (or tried) it last")
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime
