"""Destinations as rating keys: one normal form for phone numbers, short codes and SIP URIs.

The same function normalises a catalog's prefixes and an event's rating field, so a prefix
matches however the operator and the network element write the destination:

- surrounding spaces are dropped and letters lowered;
- a `sip:`, `sips:` or `tel:` scheme is dropped, and so are URI parameters and headers (from the
  first `;` or `?`);
- when what is left (before any `@host`) is a phone number, i.e. digits with an optional leading
  `+` and the visual separators space, `-`, `.`, `(` and `)`, the key is its digits, with one
  leading `+` or `00` (international prefix) removed and the host dropped:
  `+386 1 234`, `00386-1-234`, `sip:+3861234@gw.example;user=phone` and `tel:+386-1-234` all
  give `3861234`;
- anything else (`sip:support@example.com`, `*100#`) is kept as written, lowered:
  `support@example.com`, `*100#`.

National forms are not rewritten: `01 234` is `01234`; give the prefixes in the form the
network sends. The empty key (no destination) only matches the catch-all prefix `""`, which
matches every destination.
"""

from __future__ import annotations

_SCHEMES = ("sip:", "sips:", "tel:")
_SEPARATORS = str.maketrans("", "", " -.()")


def destination_key(raw: str) -> str:
    """The normal form of a destination or prefix (rules in the module docstring)."""
    if raw.isascii():  # the hot path: plain digits, with or without + or 00
        if raw.isdigit():
            return raw[2:] if raw.startswith("00") else raw
        if raw[:1] == "+" and raw[1:].isdigit():
            return raw[1:]
    text = raw.strip().lower()
    for scheme in _SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    for mark in (";", "?"):
        cut = text.find(mark)
        if cut >= 0:
            text = text[:cut]
    user, at, _host = text.partition("@")
    number = user.translate(_SEPARATORS)
    if number.startswith("+"):
        digits = number[1:]
    elif number.startswith("00"):
        digits = number[2:]
    else:
        digits = number
    if digits and digits.isdigit() and digits.isascii():
        return digits
    return text if at else user
