"""The bank's side of SEPA direct debit in tests: pain.002 status reports and camt.054
notifications as a bank would send them (the elements Tarif reads, in the real layout)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
CAMT054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"


def _reason(code: str | None) -> str:
    return f"<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf>" if code else ""


def pain002(
    message_id: str,
    transactions: Sequence[tuple[str, str, str | None]] = (),
    *,
    group_status: str = "PART",
    group_reason: str | None = None,
    payment_information: str = "",
    payment_information_status: str | None = None,
    payment_information_reason: str | None = None,
) -> bytes:
    """A status report on message `message_id`: (end-to-end id, TxSts, reason) per debit."""
    txs = "".join(
        f"<TxInfAndSts><StsId>S{i}</StsId><OrgnlEndToEndId>{escape(e2e)}</OrgnlEndToEndId>"
        f"<TxSts>{status}</TxSts>{_reason(reason)}</TxInfAndSts>"
        for i, (e2e, status, reason) in enumerate(transactions)
    )
    info_status = (
        f"<PmtInfSts>{payment_information_status}</PmtInfSts>" if payment_information_status else ""
    )
    info = (
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{escape(payment_information or message_id)}"
        f"</OrgnlPmtInfId>{info_status}{_reason(payment_information_reason)}{txs}"
        "</OrgnlPmtInfAndSts>"
        if txs or payment_information_status
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{PAIN002}"><CstmrPmtStsRpt>'
        "<GrpHdr><MsgId>BANK-STS-1</MsgId><CreDtTm>2026-12-02T08:00:00</CreDtTm></GrpHdr>"
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>{escape(message_id)}</OrgnlMsgId>"
        f"<OrgnlMsgNmId>pain.008.001.08</OrgnlMsgNmId><GrpSts>{group_status}</GrpSts>"
        f"{_reason(group_reason)}</OrgnlGrpInfAndSts>{info}</CstmrPmtStsRpt></Document>"
    ).encode()


def camt054(
    entries: Sequence[tuple[str, Decimal, str, str | None]], *, booked: bool = True
) -> bytes:
    """A notification: (end-to-end id, amount, CRDT or DBIT, return reason) per entry."""
    status = "BOOK" if booked else "PDNG"
    ntry = "".join(
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd>'
        f"<Sts><Cd>{status}</Cd></Sts><BookgDt><Dt>2026-12-03</Dt></BookgDt>"
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly>"
        "</Domn></BkTxCd><NtryDtls><TxDtls>"
        f"<Refs><EndToEndId>{escape(e2e)}</EndToEndId></Refs>"
        f'<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd>'
        + (f"<RtrInf><Rsn><Cd>{reason}</Cd></Rsn></RtrInf>" if reason else "")
        + "</TxDtls></NtryDtls></Ntry>"
        for e2e, amount, side, reason in entries
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{CAMT054}">'
        "<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>BANK-NTF-1</MsgId>"
        "<CreDtTm>2026-12-03T08:00:00</CreDtTm></GrpHdr><Ntfctn><Id>N1</Id>"
        "<CreDtTm>2026-12-03T08:00:00</CreDtTm><Acct><Id><IBAN>DE89370400440532013000</IBAN>"
        f"</Id></Acct>{ntry}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()
