"""The words of a notification: Jinja2 templates per notification type and channel.

`<type>.email.j2` (first line `Subject: ...`, a blank line, then the body) and `<type>.sms.j2`;
a type without its own template uses `default.*`. Self-care mails (`selfcare_verification`,
`selfcare_password_reset`) have their own e-mail templates only; they see `token`, `expires_at`,
`email` and `customer_id`. Templates in `TARIF_TEMPLATES_DIR` override the
built-in ones of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from tarif_notifications.model import Notification, SelfcareMail


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    body: str


def check_template(name: str, body: str) -> None:
    """A template the notifier can use: valid Jinja2; an e-mail one starts with `Subject:`."""
    from tarif_common.errors import InvalidRequest

    try:
        jinja2.Environment(autoescape=False).parse(body)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidRequest("body.body", f"line {exc.lineno}: {exc.message}") from None
    if name.endswith(".email") and not body.startswith("Subject:"):
        raise InvalidRequest("body.body", "an e-mail template starts with 'Subject: ...'")


class Renderer:
    """`stored` holds templates from Postgres (`<type>.<channel>.j2` -> text): they come first,
    then TARIF_TEMPLATES_DIR, then the built-in ones. Changing the mapping is seen at the next
    render (the loader compares sources)."""

    def __init__(
        self, templates_dir: Path | None = None, stored: dict[str, str] | None = None
    ) -> None:
        self.stored: dict[str, str] = stored if stored is not None else {}
        loaders: list[jinja2.BaseLoader] = [jinja2.DictLoader(self.stored)]
        if templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(templates_dir))
        loaders.append(jinja2.PackageLoader("tarif_notifications", "templates"))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,  # plain-text mail and SMS
            undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly, not blank
            keep_trailing_newline=False,
        )

    def email(self, n: Notification | SelfcareMail) -> Email:
        text = self._render(n, "email")
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            raise jinja2.TemplateError("an e-mail template must start with 'Subject: ...'")
        return Email(first.removeprefix("Subject:").strip(), body.lstrip("\n"))

    def sms(self, n: Notification) -> str:
        return self._render(n, "sms").strip()

    def _render(self, n: Notification | SelfcareMail, channel: str) -> str:
        if isinstance(n, SelfcareMail):  # no default: a token mail needs its own words
            return self._env.get_template(f"{n.type}.{channel}.j2").render(_mail_context(n))
        template = self._env.select_template([f"{n.type}.{channel}.j2", f"default.{channel}.j2"])
        return template.render(_context(n))


def _context(n: Notification) -> dict[str, Any]:
    return {
        "n": n,
        "type": n.type,
        "subscriber": n.subscriber,
        "account_id": n.account_id,
        "resource": n.resource,
        "unit": n.unit,
        "threshold": n.threshold_id,
        "threshold_value": n.amount(n.threshold_level),
        "value": n.amount(n.value),
        "direction": n.direction,
        "fired_at": n.fired_at,
    }


def _mail_context(m: SelfcareMail) -> dict[str, Any]:
    if not m.token:
        raise jinja2.TemplateError("the mail's token is gone (superseded or sent)")
    return {
        "mail": m,
        "type": m.type,
        "purpose": m.purpose,
        "email": m.email,
        "token": m.token,
        "expires_at": m.expires_at,
        "customer_id": m.customer_id,
    }
