"""Does a BIC belong to the bank of an IBAN? Asked of schwifty's bank registry.

The registry knows the banks of many SEPA countries (DE, AT, FR, NL, BE, ES, IT, ...) but not
all (e.g. SI, MT): where it cannot name the IBAN's bank, the BIC cannot be checked and is
accepted as given.
"""

from __future__ import annotations

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException


def bic_matches_iban(iban: str, bic: str) -> bool | None:
    """True when `bic` is one of the BICs the registry gives the IBAN's bank code, compared on
    the institution (the first 8 characters: bank, country, location; the branch may differ);
    False when it is not; None when the registry does not know the bank."""
    account = IBAN(iban)
    try:
        known = BIC.candidates_from_bank_code(account.country_code, account.bank_code)
    except SchwiftyException:
        return None
    if not known:
        return None
    institution = str(BIC(bic).compact)[:8]
    return any(str(candidate.compact)[:8] == institution for candidate in known)
