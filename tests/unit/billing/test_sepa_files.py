"""SEPA files without a database: pain.008 built and XSD-checked, the bank's pain.002 and
camt.054 read, a BIC checked against the IBAN's bank."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from tarif_billing.sepa.accounts import bic_matches_iban
from tarif_billing.sepa.pain008 import NAMESPACE, Creditor, Debit, NotValid, build, cents, validate
from tarif_billing.sepa.reports import BulkRejection, DebitResult, NotAReport, parse
from tests.bank_files import camt054, pain002

CREDITOR = Creditor("DE98ZZZ09999999999", "Tarif Telecom", "DE89370400440532013000")
NS = {"d": NAMESPACE}


def debit(e2e: str, amount: str, sequence: str = "FRST", bic: str | None = None) -> Debit:
    return Debit(
        end_to_end_id=e2e,
        amount=Decimal(amount),
        mandate_reference=f"M-{e2e}",
        signature_date=date(2026, 1, 15),
        sequence_type=sequence,  # type: ignore[arg-type]
        debtor_name="Željka Novak",
        iban="SI56191000000123438",
        bic=bic,
        remittance=f"Invoice INV-{e2e}",
    )


def test_a_collection_file_is_xsd_valid_and_carries_our_ids_and_sums() -> None:
    debits = [debit("SDD1-1", "12.30", bic="BAKOSI2X"), debit("SDD1-2", "0.05"),
              debit("SDD1-3", "100", "RCUR")]  # fmt: skip
    made = datetime(2026, 11, 29, 7, 30, tzinfo=UTC)
    document = build(CREDITOR, "TARIF-SDD-1", date(2026, 12, 1), debits, made)
    validate(document)  # again, by hand: no exception
    tree = etree.fromstring(document)
    header = tree.find("d:CstmrDrctDbtInitn/d:GrpHdr", NS)
    assert header is not None
    said = [header.findtext(f"d:{name}", namespaces=NS) for name in ("MsgId", "NbOfTxs", "CtrlSum")]
    assert said == ["TARIF-SDD-1", "3", "112.35"]
    assert header.findtext("d:CreDtTm", namespaces=NS) == "2026-11-29T07:30:00"
    infos = {
        info.findtext("d:PmtTpInf/d:SeqTp", namespaces=NS): info
        for info in tree.iterfind("d:CstmrDrctDbtInitn/d:PmtInf", NS)
    }
    assert sorted(infos) == ["FRST", "RCUR"]
    assert infos["FRST"].findtext("d:PmtInfId", namespaces=NS) == "TARIF-SDD-1-FRST"
    assert infos["FRST"].findtext("d:CtrlSum", namespaces=NS) == "12.35"
    assert infos["RCUR"].findtext("d:ReqdColltnDt", namespaces=NS) == "2026-12-01"
    assert infos["RCUR"].findtext("d:CdtrSchmeId/d:Id/d:PrvtId/d:Othr/d:Id", namespaces=NS) == (
        "DE98ZZZ09999999999"
    )
    tx = infos["FRST"].find("d:DrctDbtTxInf", NS)
    assert tx is not None
    assert tx.findtext("d:PmtId/d:EndToEndId", namespaces=NS) == "SDD1-1"
    assert tx.findtext("d:InstdAmt", namespaces=NS) == "12.30"
    assert tx.findtext("d:DbtrAgt/d:FinInstnId/d:BICFI", namespaces=NS) == "BAKOSI2X"
    assert tx.findtext("d:DrctDbtTx/d:MndtRltdInf/d:MndtId", namespaces=NS) == "M-SDD1-1"
    assert tx.findtext("d:Dbtr/d:Nm", namespaces=NS) == "Zeljka Novak"  # SEPA's character set


def test_a_document_against_its_schema_is_refused() -> None:
    document = build(CREDITOR, "TARIF-SDD-2", date(2026, 12, 1), [debit("A", "1")],
                     datetime(2026, 11, 29, tzinfo=UTC))  # fmt: skip
    broken = document.replace(b"<PmtMtd>DD</PmtMtd>", b"<PmtMtd>XX</PmtMtd>")
    assert broken != document
    with pytest.raises(NotValid):
        validate(broken)


@pytest.mark.parametrize("amount", ["0", "-1", "1.001"])
def test_an_amount_is_whole_positive_cents_never_rounded(amount: str) -> None:
    with pytest.raises(ValueError, match="whole cents"):
        cents(Decimal(amount))


def test_cents() -> None:
    assert (cents(Decimal("12.3")), cents(Decimal("0.01")), cents(Decimal("7"))) == (1230, 1, 700)


def test_a_status_report_gives_each_debit_its_outcome_and_reason() -> None:
    report = parse(
        pain002(
            "TARIF-SDD-1",
            [("SDD1-1", "ACSC", None), ("SDD1-2", "RJCT", "AM04"), ("SDD1-3", "PDNG", None),
             ("SDD1-4", "RJCT", "MD01"), ("SDD1-5", "ACCP", None)],
        )
    )  # fmt: skip
    assert report.kind == "pain.002"
    assert report.bulk == []
    assert report.debits == [
        DebitResult("SDD1-1", "accepted"),
        DebitResult("SDD1-2", "rejected", "AM04"),
        DebitResult("SDD1-3", "pending"),
        DebitResult("SDD1-4", "rejected", "MD01"),
        DebitResult("SDD1-5", "accepted"),
    ]


def test_a_rejected_file_or_payment_information_rejects_every_debit_it_covers() -> None:
    whole = parse(pain002("TARIF-SDD-7", group_status="RJCT", group_reason="FF01"))
    assert whole.bulk == [BulkRejection("TARIF-SDD-7", None, "FF01")]
    assert whole.debits == []
    part = parse(
        pain002("TARIF-SDD-7", payment_information="TARIF-SDD-7-FRST",
                payment_information_status="RJCT", payment_information_reason="DT01")
    )  # fmt: skip
    assert part.bulk == [BulkRejection("TARIF-SDD-7", "TARIF-SDD-7-FRST", "DT01")]


def test_a_notification_credits_accepted_and_debits_returned() -> None:
    report = parse(camt054([("SDD1-1", Decimal("12.30"), "CRDT", None),
                            ("SDD1-2", Decimal("5.00"), "DBIT", "MD06")]))  # fmt: skip
    assert report.kind == "camt.054"
    assert report.debits == [
        DebitResult("SDD1-1", "accepted"),
        DebitResult("SDD1-2", "rejected", "MD06"),
    ]
    pending = parse(camt054([("SDD1-1", Decimal("1"), "CRDT", None)], booked=False))
    assert pending.debits == [DebitResult("SDD1-1", "pending")]


@pytest.mark.parametrize(
    "data", [b"not xml", b"<Document><Other/></Document>", b"<Root/>", b"<Document/>"]
)
def test_anything_else_is_not_a_report(data: bytes) -> None:
    with pytest.raises(NotAReport):
        parse(data)


def test_a_document_type_declaration_is_refused() -> None:
    data = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
        b"<Document><CstmrPmtStsRpt><OrgnlPmtInfAndSts><TxInfAndSts>"
        b"<OrgnlEndToEndId>&e;</OrgnlEndToEndId><TxSts>ACSC</TxSts>"
        b"</TxInfAndSts></OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"
    )
    with pytest.raises(NotAReport, match="document type"):  # no entity is ever expanded
        parse(data)


@pytest.mark.parametrize(
    ("iban", "bic", "matches"),
    [
        ("DE89370400440532013000", "COBADEFFXXX", True),
        ("DE89370400440532013000", "COBADEFF", True),
        ("DE89370400440532013000", "DEUTDEFF", False),
        ("FR1420041010050500013M02606", "PSSTFRPPPAR", True),
        ("FR1420041010050500013M02606", "BNPAFRPP", False),
        ("SI56191000000123438", "BAKOSI2X", None),  # the registry does not know SI banks
    ],
)
def test_a_bic_is_checked_against_the_banks_the_registry_gives_the_iban(
    iban: str, bic: str, matches: bool | None
) -> None:
    assert bic_matches_iban(iban, bic) is matches
