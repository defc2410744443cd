"""The bank's answer to a collection, read with lxml: a pain.002 payment status report or a
camt.054 debit/credit notification, as one result per debit (its end-to-end id).

Any version of either message is read (the elements used are the same in pain.002.001.03 to
.10 and camt.054.001.02 to .08; namespaces are ignored). What a status means:

- pain.002 `TxSts`: ACCP, ACSC, ACSP, ACWC, ACCC accepted; RJCT rejected (its `StsRsnInf/Rsn/Cd`
  is the reason); RCVD, ACTC, PDNG and others say nothing final yet (pending). A group or
  payment-information status RJCT without transactions rejects every debit it covers.
- camt.054 entry (or transaction) credited (`CRDT`) and booked: accepted; debited (`DBIT`, a
  return or reversal, `RtrInf/Rsn/Cd` the reason): rejected; not booked: pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree

Outcome = Literal["accepted", "rejected", "pending"]
ACCEPTED = frozenset({"ACCP", "ACSC", "ACSP", "ACWC", "ACCC"})
MAX_BYTES = 20 * 1024 * 1024


class NotAReport(ValueError):
    """The file is not a pain.002 or camt.054 document."""


@dataclass(frozen=True, slots=True)
class DebitResult:
    end_to_end_id: str
    outcome: Outcome
    reason: str | None = None  # ISO reason code (AM04, MD01, ...) of a rejection


@dataclass(frozen=True, slots=True)
class BulkRejection:
    """Every debit of the original message (or of one of its payment informations) rejected."""

    message_id: str
    payment_information_id: str | None  # None: the whole message
    reason: str | None


@dataclass(frozen=True, slots=True)
class BankReport:
    kind: Literal["pain.002", "camt.054"]
    debits: list[DebitResult] = field(default_factory=list)
    bulk: list[BulkRejection] = field(default_factory=list)


def _local(node: Any) -> str:
    return str(etree.QName(node).localname)


def _child(node: Any, *path: str) -> Any:
    """The first descendant along `path` (local names), or None."""
    for name in path:
        if node is None:
            return None
        node = next((c for c in node if isinstance(c.tag, str) and _local(c) == name), None)
    return node


def _children(node: Any, name: str) -> list[Any]:
    return [c for c in node if isinstance(c.tag, str) and _local(c) == name]


def _text(node: Any, *path: str) -> str | None:
    found = _child(node, *path)
    if found is None:
        return None
    text = "".join(found.itertext()).strip()
    return text or None


def parse(data: bytes) -> BankReport:
    """The results `data` reports; raises `NotAReport` for anything else."""
    if len(data) > MAX_BYTES:
        raise NotAReport(f"the file is larger than {MAX_BYTES} bytes")
    if b"<!DOCTYPE" in data:
        raise NotAReport("a document type declaration is not accepted")  # no entities at all
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise NotAReport(f"not well-formed XML: {exc}") from None
    body = next((c for c in root if isinstance(c.tag, str)), None)
    if _local(root) != "Document" or body is None:
        raise NotAReport("expected an ISO 20022 Document")
    if _local(body) == "CstmrPmtStsRpt":
        return _pain002(body)
    if _local(body) == "BkToCstmrDbtCdtNtfctn":
        return _camt054(body)
    raise NotAReport(f"{_local(body)} is neither a pain.002 nor a camt.054 message")


def _reason(node: Any) -> str | None:
    for info in _children(node, "StsRsnInf"):
        if code := _text(info, "Rsn", "Cd") or _text(info, "Rsn", "Prtry"):
            return code
    return None


def _pain002(body: Any) -> BankReport:
    report = BankReport("pain.002")
    group = _child(body, "OrgnlGrpInfAndSts")
    message_id = _text(group, "OrgnlMsgId") if group is not None else None
    infos = _children(body, "OrgnlPmtInfAndSts")
    transactions = [tx for info in infos for tx in _children(info, "TxInfAndSts")]
    if group is not None and message_id and _text(group, "GrpSts") == "RJCT" and not transactions:
        report.bulk.append(BulkRejection(message_id, None, _reason(group)))
        return report
    for info in infos:
        txs = _children(info, "TxInfAndSts")
        info_id = _text(info, "OrgnlPmtInfId")
        if not txs and message_id and info_id and _text(info, "PmtInfSts") == "RJCT":
            report.bulk.append(BulkRejection(message_id, info_id, _reason(info)))
        for tx in txs:
            end_to_end = _text(tx, "OrgnlEndToEndId")
            if not end_to_end:
                continue
            status = _text(tx, "TxSts") or ""
            if status == "RJCT":
                report.debits.append(DebitResult(end_to_end, "rejected", _reason(tx)))
            elif status in ACCEPTED:
                report.debits.append(DebitResult(end_to_end, "accepted"))
            else:
                report.debits.append(DebitResult(end_to_end, "pending"))
    return report


def _camt054(body: Any) -> BankReport:
    report = BankReport("camt.054")
    for notification in _children(body, "Ntfctn"):
        for entry in _children(notification, "Ntry"):
            booked = (_text(entry, "Sts") or "") == "BOOK"
            entry_side = _text(entry, "CdtDbtInd")
            for details in _children(entry, "NtryDtls"):
                for tx in _children(details, "TxDtls"):
                    end_to_end = _text(tx, "Refs", "EndToEndId")
                    if not end_to_end or end_to_end == "NOTPROVIDED":
                        continue
                    side = _text(tx, "CdtDbtInd") or entry_side
                    if not booked:
                        report.debits.append(DebitResult(end_to_end, "pending"))
                    elif side == "CRDT":
                        report.debits.append(DebitResult(end_to_end, "accepted"))
                    elif side == "DBIT":
                        reason = _text(tx, "RtrInf", "Rsn", "Cd") or _text(
                            tx, "RtrInf", "Rsn", "Prtry"
                        )
                        report.debits.append(DebitResult(end_to_end, "rejected", reason))
    return report
