"""A collection as a pain.008.001.08 file (SEPA Core direct debit initiation), built by sepaxml.

pain.008.001.08 is the version of the EPC implementation guidelines in force since November
2023 (the 2019 ISO messages); it lets the creditor's and the debtors' BIC be left out. sepaxml
makes the document; its random message and payment-information ids are replaced by ours (the
bank's reports quote them back), and the final bytes are validated against the scheme's XSD
shipped with sepaxml.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

import xmlschema
from lxml import etree
from sepaxml import SepaDD

SCHEME = "pain.008.001.08"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEME}"
SequenceType = Literal["FRST", "RCUR"]


class NotValid(ValueError):
    """The document does not follow its XML schema."""


@dataclass(frozen=True, slots=True)
class Creditor:
    """Who collects: TARIF_SEPA_CREDITOR_* settings."""

    creditor_id: str
    name: str
    iban: str
    bic: str = ""


@dataclass(frozen=True, slots=True)
class Debit:
    end_to_end_id: str
    amount: Decimal  # EUR, at most 2 decimals, > 0
    mandate_reference: str
    signature_date: date
    sequence_type: SequenceType
    debtor_name: str
    iban: str
    bic: str | None
    remittance: str  # unstructured remittance information (the invoice number)


def cents(amount: Decimal) -> int:
    """An amount in EUR as whole cents; refuses fractions of a cent (never rounded here)."""
    scaled = amount * 100
    if amount <= 0 or scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} is not a positive amount in whole cents")
    return int(scaled)


def payment_information_id(message_id: str, sequence_type: str) -> str:
    """One PmtInf per sequence type (the file has one collection date): `<msg>-<type>`."""
    return f"{message_id}-{sequence_type}"


def build(
    creditor: Creditor,
    message_id: str,
    collection_date: date,
    debits: Sequence[Debit],
    created_at: datetime,
) -> bytes:
    """The pain.008.001.08 document of `debits`, XSD-valid (raises `NotValid` otherwise)."""
    if not debits:
        raise ValueError("a collection needs at least one debit")
    config: dict[str, Any] = {
        "name": creditor.name,
        "IBAN": creditor.iban,
        "batch": True,
        "creditor_id": creditor.creditor_id,
        "currency": "EUR",
        "instrument": "CORE",
    }
    if creditor.bic:
        config["BIC"] = creditor.bic
    document = SepaDD(config, schema=SCHEME, clean=True)
    for debit in debits:
        payment: dict[str, Any] = {
            "name": debit.debtor_name,
            "IBAN": debit.iban,
            "amount": cents(debit.amount),
            "type": debit.sequence_type,
            "collection_date": collection_date,
            "mandate_id": debit.mandate_reference,
            "mandate_date": debit.signature_date,
            "description": debit.remittance,
            "endtoend_id": debit.end_to_end_id,
        }
        if debit.bic:
            payment["BIC"] = debit.bic
        document.add_payment(payment)
    raw = document.export(validate=False)
    tree = etree.fromstring(raw, _parser())
    ns = {"d": NAMESPACE}
    _set(tree, "d:CstmrDrctDbtInitn/d:GrpHdr/d:MsgId", ns, message_id)
    stamp = created_at.replace(microsecond=0, tzinfo=None).isoformat()
    _set(tree, "d:CstmrDrctDbtInitn/d:GrpHdr/d:CreDtTm", ns, stamp)
    for info in tree.iterfind("d:CstmrDrctDbtInitn/d:PmtInf", ns):
        sequence_type = info.findtext("d:PmtTpInf/d:SeqTp", namespaces=ns) or ""
        _set(info, "d:PmtInfId", ns, payment_information_id(message_id, sequence_type))
    out: bytes = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    validate(out)
    return out


def _set(node: Any, path: str, ns: dict[str, str], text: str) -> None:
    found = node.find(path, ns)
    if found is None:
        raise ValueError(f"sepaxml made no {path}")
    found.text = text


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@functools.cache
def _schema() -> xmlschema.XMLSchema:
    path = resources.files("sepaxml") / "schemas" / f"{SCHEME}.xsd"
    return xmlschema.XMLSchema(str(path))


def validate(document: bytes) -> None:
    """Raises `NotValid` with the schema's first complaint unless `document` is XSD-valid."""
    error = next(_schema().iter_errors(document.decode("utf-8")), None)
    if error is not None:
        raise NotValid(f"{error.reason} at {error.path}")
