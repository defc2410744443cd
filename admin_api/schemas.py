"""Request bodies of the admin API (pydantic): validation lives here, once (the answers are in
`admin_api/answers/`)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from tarif_billing.parties import check_tax_id
from tarif_billing.sepa.accounts import bic_matches_iban
from tarif_common import contacts as card
from tarif_common.contacts import Contact, unique_tags
from tarif_common.keys import ID_PATTERN

Name = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Identifier = Annotated[str, Field(pattern=ID_PATTERN.pattern)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9]{6,15}$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
AttributeValue = str | int | bool
GroupName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Interval = Literal["weekly", "monthly", "quarterly", "yearly"]
BillingDay = Annotated[
    int,
    Field(
        ge=1,
        le=31,
        description="weekly: ISO weekday 1 (Monday) to 7; otherwise the day of the month 1-31,"
        " a day past a month's end meaning its last day",
    ),
]
AnchorMonth = Annotated[
    int, Field(ge=1, le=12, description="quarterly, yearly: a month (1-12) cycles start in")
]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="IANA time zone")]
DecimalText = Annotated[
    str, Field(pattern=r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$", description='a decimal, e.g. "10.00"')
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AccountInfo(Strict):
    first_name: Name
    last_name: Name
    email: Annotated[EmailStr, Field(max_length=254)]
    phone: Phone
    customer_type: Annotated[str, Field(min_length=1, max_length=64)]
    address: Text
    city: Name
    state: Name
    country: Country
    organisation: Annotated[str, Field(max_length=200)] | None = None
    postcode: Annotated[str, Field(max_length=20)] | None = None
    custom_attributes: Annotated[dict[str, AttributeValue], Field(max_length=50)] = {}


class AccountPatch(Strict):
    """Any subset of the account info, and the status (active/inactive)."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: Annotated[EmailStr, Field(max_length=254)] | None = None
    phone: Phone | None = None
    customer_type: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    address: Text | None = None
    city: Name | None = None
    state: Name | None = None
    country: Country | None = None
    organisation: Annotated[str, Field(max_length=200)] | None = None
    postcode: Annotated[str, Field(max_length=20)] | None = None
    custom_attributes: Annotated[dict[str, AttributeValue], Field(max_length=50)] | None = None
    status: Literal["active", "inactive"] | None = None


class BillingAddress(Strict):
    """Where invoices are addressed, when not to the customer's own address."""

    address_lines: card.AddressLines
    city: card.Name
    postcode: card.Postcode | None = None
    country: card.Country


class BillingDetails(Strict):
    """What the invoices say of the buyer, besides its name: every payment method has them."""

    billing_address: BillingAddress | None = Field(
        default=None, description="absent: invoices go to the customer's own address"
    )
    tax_id: Annotated[str, Field(min_length=2, max_length=40)] | None = Field(
        default=None,
        description="the buyer's tax id; an EU VAT number (its country prefix first, e.g."
        " FR32123456789) is checked and kept compact",
    )

    @field_validator("tax_id")
    @classmethod
    def _tax_id(cls, value: str | None) -> str | None:
        return None if value is None else check_tax_id(value)


class InvoicePayment(BillingDetails):
    method: Literal["invoice"]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


class CardPayment(BillingDetails):
    """A card is kept as its holder and the payment gateway's token, never its number."""

    method: Literal["credit_card"]
    holder: Name
    gateway: Annotated[str, Field(min_length=1, max_length=64)]
    token: Annotated[str, Field(min_length=4, max_length=200)]

    @field_validator("token")
    @classmethod
    def _not_a_card_number(cls, value: str) -> str:
        digits = re.sub(r"[ -]", "", value)
        if digits.isdigit() and 12 <= len(digits) <= 19 and _luhn(digits):
            raise ValueError("looks like a card number: send the gateway's token, never the PAN")
        return value


class DirectDebitPayment(BillingDetails):
    """SEPA direct debit: a signed mandate and the account's IBAN (and BIC)."""

    method: Literal["direct_debit"]
    mandate_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9+?/:().,' -]{1,35}$")]
    signature_date: date
    iban: Annotated[str, Field(min_length=15, max_length=42)]
    bic: Annotated[str, Field(min_length=8, max_length=11)] | None = None

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        try:
            return str(IBAN(value).compact)
        except SchwiftyException as exc:
            raise ValueError(f"invalid IBAN: {exc}") from None

    @field_validator("bic")
    @classmethod
    def _bic(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A valid BIC of the IBAN's bank (accepted as given where the registry does not know
        the bank: docs/sepa.md)."""
        if value is None:
            return None
        try:
            bic = str(BIC(value).compact)
        except SchwiftyException as exc:
            raise ValueError(f"invalid BIC: {exc}") from None
        iban = info.data.get("iban")
        if iban is not None and bic_matches_iban(iban, bic) is False:
            raise ValueError(f"{bic} is not a BIC of the bank of IBAN {iban}")
        return bic

    @field_validator("signature_date")
    @classmethod
    def _signed_already(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("a mandate cannot be signed in the future")
        return value


Payment = Annotated[
    InvoicePayment | CardPayment | DirectDebitPayment, Field(discriminator="method")
]


def payment_info(payment: InvoicePayment | CardPayment | DirectDebitPayment) -> dict[str, Any]:
    """The payment as `customers.payment_info` keeps it (with its `method`): billing details
    left out when not given, so the answers show them only when the customer has them."""
    kept = payment.model_dump(mode="json")
    for name in BillingDetails.model_fields:
        if kept[name] is None:
            del kept[name]
    return kept


class Contacts(Strict):
    contacts: Annotated[list[Contact], Field(max_length=20)]

    _tags = field_validator("contacts")(unique_tags)


class ContactPatch(Strict):
    """Only the fields given change; `null` removes one. A contact keeps an e-mail or a phone;
    its tag is its name (delete and add to rename)."""

    email: card.Email | None = None
    phone: card.Phone | None = None
    first_name: card.Name | None = None
    last_name: card.Name | None = None
    organisation: card.Name | None = None
    address_lines: card.AddressLines | None = None
    city: card.Name | None = None
    postcode: card.Postcode | None = None
    country: card.Country | None = None


class BalanceIn(Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    resource: Annotated[str, Field(min_length=1, max_length=64)]
    amount: DecimalText
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0
    credit_limit: DecimalText | None = None


CatalogName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
PromoCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")]


class ProductChoice(Strict):
    """One product of a bundle or pack as bought: unset fields keep the catalog's."""

    product: CatalogName
    purchase: bool | None = Field(
        default=None, description="optional products are bought only when true"
    )
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    value: (
        Annotated[
            str,
            Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description="granted per unit"),
        ]
        | None
    ) = None
    valid_to: datetime | None = Field(default=None, description="end of what it grants")
    services: Annotated[list[Identifier], Field(max_length=100)] = Field(
        default=[], description="service identifiers of a service product"
    )


def _distinct_codes(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("codes repeat")
    return value


def _distinct_products(value: list[ProductChoice]) -> list[ProductChoice]:
    names = [c.product for c in value]
    if len(set(names)) != len(names):
        raise ValueError("products repeat")
    return value


class BundleChoice(Strict):
    bundle: CatalogName
    products: Annotated[list[ProductChoice], Field(max_length=100)] = []

    _distinct = field_validator("products")(_distinct_products)


class PackPurchase(Strict):
    """An option pack bought on top of the plan."""

    request_id: Identifier = Field(description="idempotency key: a retry buys (and pays) once")
    pack: CatalogName
    products: Annotated[list[ProductChoice], Field(max_length=100)] = []
    coupons: Annotated[list[PromoCode], Field(max_length=5)] = []
    start: AwareDatetime | None = Field(
        default=None,
        description="unset: bought now; in the future: `scheduled` until then (nothing granted"
        " or paid before; the deferred-activation job activates it); in the past: 422",
    )

    _distinct = field_validator("products")(_distinct_products)
    _codes = field_validator("coupons")(_distinct_codes)


class PurchasePatch(Strict):
    """Modify a bought product: its quantity, what it grants per unit, or the grant's end."""

    quantity: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    value: (
        Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description="per unit")]
        | None
    ) = None
    valid_to: datetime | None = None


class SubscriptionIn(Strict):
    balance_group: GroupName | None = Field(
        default=None,
        description="onboarding: the first group's name (default main); adding a subscription:"
        " an existing group, or a new one of that name (default: the first group)",
    )
    plan: Annotated[str, Field(min_length=1, max_length=64)]
    payment_type: Literal["prepaid", "postpaid"] = "prepaid"
    currency: Annotated[str, Field(min_length=1, max_length=64, description="money resource")]
    interval: Interval | None = Field(
        default=None,
        description="onboarding: the default billing profile's (default monthly); adding a"
        " subscription: must be the balance group's profile's, or left out",
    )
    billing_day: BillingDay | None = Field(
        default=None,
        description="onboarding: the default billing profile's (default 1); adding a"
        " subscription: must be the balance group's profile's, or left out",
    )
    credit_profile: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    credit_limit: DecimalText | None = None
    services: Annotated[list[Identifier], Field(max_length=100)] = Field(
        default=[], description="global service identifiers (or per product, in `bundles`)"
    )
    balances: Annotated[list[BalanceIn], Field(max_length=50)] = []
    bundles: Annotated[list[BundleChoice], Field(max_length=20)] = Field(
        default=[],
        description="choices per bundle of the plan; bundles not named are bought as the"
        " catalog has them (mandatory products only)",
    )
    coupons: Annotated[list[PromoCode], Field(max_length=5)] = Field(
        default=[], description="applied in this order, each to every product's list price"
    )
    vouchers: Annotated[list[PromoCode], Field(max_length=10)] = []

    _codes = field_validator("coupons", "vouchers")(_distinct_codes)

    @field_validator("services")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("service identifiers repeat")
        return value

    @field_validator("balances")
    @classmethod
    def _distinct_balances(cls, value: list[BalanceIn]) -> list[BalanceIn]:
        ids = [b.id for b in value]
        if len(set(ids)) != len(ids):
            raise ValueError("balance ids repeat")
        return value


class SharingMembership(Strict):
    """Join an existing sharing group as a member (owning one: /v1/sharing-groups)."""

    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    status: Literal["active", "suspended"] = "active"


class HierarchyMembership(Strict):
    """Join an existing hierarchy group: the owner becomes liable for the invoices."""

    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class Onboarding(Strict):
    """Everything a new customer needs, in one request: all of it is created, or nothing."""

    account_id: Identifier | None = Field(
        default=None, description="the engine's account id; default C<customer id>"
    )
    account: AccountInfo
    payment: Payment
    contacts: Annotated[list[Contact], Field(max_length=20)] = []
    subscription: SubscriptionIn
    sharing: SharingMembership | None = None
    hierarchy: HierarchyMembership | None = None

    _tags = field_validator("contacts")(unique_tags)


class AttributeDef(Strict):
    type: Literal["string", "integer", "decimal", "boolean", "date"]
    required: bool = False
    description: Annotated[str, Field(max_length=500)] = ""


class CustomerType(Strict):
    description: Annotated[str, Field(max_length=500)] = ""


class KeyRequest(Strict):
    role: Literal["admin", "operator", "auditor"]
    name: Annotated[str, Field(max_length=100)] = ""


class Correction(Strict):
    subscriber: Identifier | None = None
    service: Identifier | None = None
    set_attributes: Annotated[
        dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=50)
    ] = {}
    remove_attributes: Annotated[
        list[Annotated[str, Field(max_length=256)]], Field(max_length=50)
    ] = []


def check_attribute(name: str, kind: str, value: AttributeValue) -> str | None:
    """Why `value` is not of the declared `kind`, or None if it is."""
    if kind == "string":
        return None if isinstance(value, str) and len(value) <= 500 else "must be a text up to 500"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be an integer"
    if kind == "decimal":
        try:
            Decimal(str(value))
        except InvalidOperation:
            return "must be a decimal"
        return None if not isinstance(value, bool) else "must be a decimal"
    if kind == "date":
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return "must be a date (YYYY-MM-DD)"
        return None
    return f"has an unknown type {kind}"


class PaymentChange(Strict):
    payment: Payment


class ManualEvent(Strict):
    """A usage event entered by hand; it goes through the engine like any other."""

    request_id: Identifier = Field(
        description="idempotency key: a retry charges once; it is the engine's event id"
        " (the usage list shows it as e:<request_id>)"
    )
    service_identifier: Identifier
    service: Annotated[str, Field(min_length=1, max_length=64)]
    units: Annotated[int, Field(ge=0, le=10**12)] = 1
    attributes: Annotated[
        dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=50)
    ] = {}
    event_time: datetime | None = None


class PlanChange(Strict):
    plan: Annotated[str, Field(min_length=1, max_length=64)]
    effective_at: AwareDatetime | None = Field(
        default=None,
        description="unset: now; in the future: scheduled; in the past: refused (422)",
    )


class NewBalance(Strict):
    """A credit (the customer has it) or debit (owed) balance, for the current cycle, until a
    date, or forever."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    resource: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Literal["credit", "debit"] = "credit"
    amount: Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description="> 0")]
    validity: Literal["cycle", "until", "forever"] = "forever"
    valid_to: datetime | None = Field(default=None, description="with validity `until`")
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0
    balance_group: GroupName | None = Field(default=None, description="default: the first")

    @model_validator(mode="after")
    def _until_needs_a_date(self) -> NewBalance:
        if (self.validity == "until") != (self.valid_to is not None):
            raise ValueError("valid_to goes with validity 'until', and only with it")
        return self


class Adjustment(Strict):
    request_id: Identifier = Field(description="idempotency key: a retry adjusts once")
    amount: Annotated[
        str, Field(pattern=r"^[+-]?[0-9]{1,15}(\.[0-9]{1,6})?$", description="+ gives, - takes")
    ]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    tax: Annotated[str, Field(max_length=64)] | None = None
    tax_provider: Annotated[str, Field(max_length=64)] | None = None
    ledger: Annotated[str, Field(max_length=64)] | None = None


Password = Annotated[str, Field(min_length=10, max_length=256, description="10-256 characters")]


class SelfcareNew(Strict):
    email: Annotated[EmailStr, Field(max_length=254)]
    password: Password


class SelfcarePatch(Strict):
    email: Annotated[EmailStr, Field(max_length=254)] | None = None
    enabled: bool | None = None
    password: Password | None = None


class TokenBody(Strict):
    token: Annotated[str, Field(min_length=1, max_length=100)]


class PasswordReset(Strict):
    token: Annotated[str, Field(min_length=1, max_length=100)]
    password: Password


class Login(Strict):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class UsageAdjustment(Strict):
    """Lower a charged event's amount: the engine refunds the difference, once per request_id."""

    request_id: Identifier = Field(
        description="idempotency key: a retry refunds once; it is the engine's refund id"
    )
    event_id: Annotated[str, Field(min_length=1, max_length=150)] = Field(
        description="the charged event: the engine's event id, as the usage list's request_id"
        " shows it (e:<event id>) or without the e:"
    )
    amount: Annotated[
        str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description="the new amount")
    ]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class Ledger(Strict):
    account_code: Annotated[str, Field(max_length=64)] = ""
    description: Annotated[str, Field(max_length=500)] = ""
    ledger_group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = Field(
        default="revenue", description="the group financial reports sum it in"
    )
    revenue_type: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{0,64}$")] = Field(
        default="", description="e.g. recurring, usage, one_time ('' unspecified)"
    )
    account_type: Literal["asset", "liability", "equity", "revenue", "expense"] = "revenue"


class Tax(Strict):
    rate: Annotated[Decimal, Field(ge=0, le=100, max_digits=9, decimal_places=4)] = Field(
        description="percent"
    )
    provider: Annotated[str, Field(max_length=64)] = ""
    description: Annotated[str, Field(max_length=500)] = ""
    category: Literal["S", "Z", "E", "AE", "K", "G", "O", "L", "M"] = Field(
        default="S", description="VAT category on invoices (UNTDID 5305)"
    )
    exemption_reason: Annotated[str, Field(max_length=500)] = Field(
        default="", description="why an exempt category (E, AE, K, G, O) applies"
    )


class MailTemplate(Strict):
    """Jinja2 text; an e-mail template starts with `Subject: ...`."""

    body: Annotated[str, Field(min_length=1, max_length=20_000)]


class VoucherNew(Strict):
    """Worth an amount of a resource (credited), or an option pack (bought free of charge)."""

    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")]
    resource: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    amount: (
        Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description="> 0")] | None
    ) = None
    pack: CatalogName | None = None
    max_uses: Annotated[int, Field(ge=1, le=10_000_000)] = 1
    expires_at: datetime | None = None
    description: Annotated[str, Field(max_length=500)] = ""

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: str | None) -> str | None:
        if value is not None and Decimal(value) <= 0:
            raise ValueError("must be more than zero")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> VoucherNew:
        credit = self.resource is not None and self.amount is not None
        if self.pack is None and not credit:
            raise ValueError("give resource and amount, or pack")
        if self.pack is not None and (self.resource is not None or self.amount is not None):
            raise ValueError("a pack voucher has no resource or amount")
        return self


class Redemption(Strict):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")]


class Device(Strict):
    imei: Annotated[str, Field(pattern=r"^[0-9]{14,16}$")] | None = None
    name: Annotated[str, Field(max_length=100)] = ""


class ServiceNew(Strict):
    identifier: Identifier
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    devices: Annotated[list[Device], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _window(self) -> ServiceNew:
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class ServicePatch(Strict):
    identifier: Identifier | None = Field(default=None, description="a new identifier")
    status: Literal["active", "suspended"] | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    devices: Annotated[list[Device], Field(max_length=20)] | None = None


class GroupMember(Strict):
    customer_id: Annotated[int, Field(ge=1, le=2**62)]
    status: Literal["active", "suspended"] = "active"


class SharingGroupNew(Strict):
    """An owner's balances shared with its members: which resources, own balances or pool
    first, and a cap per member per cycle (an amount, a share like "40%", or none)."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    owner_id: Annotated[int, Field(ge=1, le=2**62)]
    policy: dict[str, Any] = Field(description='{"order": "own_first", "resources": {...}}')
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    members: Annotated[list[GroupMember], Field(max_length=10_000)] = []


class SharingGroupPatch(Strict):
    status: Literal["active", "cancelled"] | None = None
    policy: dict[str, Any] | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class MemberStatus(Strict):
    status: Literal["active", "suspended"] = "active"


TaxName = Annotated[str, Field(min_length=1, max_length=64)]
PaymentTerms = Annotated[int, Field(ge=0, le=365)]


class BillingProfileNew(Strict):
    """A billing profile: its cycle rule (docs/billing-cycles.md) is the cycle of every
    subscription in the balance groups billed to it."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    payment_type: Literal["prepaid", "postpaid"] = "postpaid"
    currency: Annotated[str, Field(min_length=1, max_length=64)]
    interval: Interval = "monthly"
    billing_day: BillingDay = 1
    anchor_month: AnchorMonth = 1
    time_zone: TimeZone | None = Field(
        default=None, description="IANA name; default: the catalog's time zone"
    )
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    tax: TaxName | None = Field(default=None, description="a tax's name; none: TARIF_DEFAULT_TAX")
    payment_terms_days: PaymentTerms | None = Field(
        default=None, description="days to pay an invoice; none: TARIF_PAYMENT_TERMS_DAYS"
    )


class BillingProfilePatch(Strict):
    """Only the fields given change; the cycle in progress becomes the new rule's (see
    docs/billing-cycles.md)."""

    interval: Interval | None = None
    billing_day: BillingDay | None = None
    anchor_month: AnchorMonth | None = None
    time_zone: TimeZone | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    tax: TaxName | None = Field(default=None, description="null: TARIF_DEFAULT_TAX")
    payment_terms_days: PaymentTerms | None = Field(
        default=None, description="null: TARIF_PAYMENT_TERMS_DAYS"
    )


# -- billing ---------------------------------------------------------------------------------

BillingRequestId = Annotated[str, Field(pattern=ID_PATTERN.pattern, max_length=128)]
PositiveAmount = Annotated[
    str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description='> 0, e.g. "10.00"')
]


class BillingRunNew(Strict):
    request_id: BillingRequestId = Field(description="idempotency key: a retry bills once")
    at: AwareDatetime | None = Field(
        default=None, description='the "process now" time; default now'
    )


class BillNowNew(Strict):
    request_id: BillingRequestId = Field(description="idempotency key: a retry bills once")


class BillAdjustmentNew(Strict):
    request_id: BillingRequestId = Field(description="idempotency key: a retry adjusts once")
    amount: Annotated[
        str,
        Field(
            pattern=r"^[+-]?[0-9]{1,15}(\.[0-9]{1,6})?$",
            description="< 0 credits the customer, > 0 charges them",
        ),
    ]
    reason: Text
    bill_item_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    balance_group_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    tax: TaxName | None = None
    tax_provider: Annotated[str, Field(max_length=64)] | None = None
    ledger: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class PaymentNew(Strict):
    request_id: BillingRequestId = Field(description="idempotency key: a retry records once")
    kind: Literal["charge", "refund"] = Field(description="money received, or given back")
    method: Literal["cash", "credit_card", "transfer", "direct_debit"]
    amount: PositiveAmount
    currency: Annotated[str, Field(min_length=1, max_length=64)]
    provider: Annotated[str, Field(max_length=64)] = ""
    reference: Annotated[str, Field(max_length=200)] = ""
    note: Annotated[str, Field(max_length=500)] = ""
    invoice_id: Annotated[int, Field(ge=1, le=2**62)] | None = Field(
        default=None, description="the invoice paid; default: the oldest due ones"
    )
    received_at: AwareDatetime | None = Field(default=None, description="default: now")


class HierarchyNew(Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    owner_id: Annotated[int, Field(ge=1, le=2**62)]
    billing_profile_id: Annotated[int, Field(ge=1, le=2**62)] | None = Field(
        default=None,
        description="the owner's profile that receives the invoices; default: its first",
    )
    members: Annotated[list[Annotated[int, Field(ge=1, le=2**62)]], Field(max_length=10_000)] = []


class HierarchyPatch(Strict):
    status: Literal["active", "cancelled"] | None = None
    billing_profile_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


class BalanceGroupNew(Strict):
    name: GroupName
    account_id: Identifier | None = Field(
        default=None, description="the engine's account id; default <customer account>.<name>"
    )
    billing_profile_id: Annotated[int, Field(ge=1, le=2**62)] | None = Field(
        default=None, description="default: the customer's first billing profile"
    )
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class BalanceGroupPatch(Strict):
    billing_profile_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class SepaCollectionNew(Strict):
    """Collect every invoice due by `collection_date` from the customers' mandates."""

    collection_date: date = Field(description="the requested collection date (ReqdColltnDt)")
    request_id: Identifier = Field(description="idempotency key: a retry makes one collection")


class InvoiceEmailNew(Strict):
    """Send an issued invoice's e-mail now (with its PDF), as the invoicing job would."""

    force: bool = Field(
        default=False,
        description="send it again even if it was sent (a new message); without it a sent"
        " e-mail is a 409",
    )


class ContractChangeNew(Strict):
    """A change of one bought product (a contract line) at a date: its quantity, its unit
    price, the product itself, or its termination."""

    request_id: Identifier = Field(description="idempotency key: a retry makes the change once")
    customer_id: Annotated[int, Field(ge=1, le=2**62)]
    purchase_id: Annotated[int, Field(ge=1, le=2**62, description="the product to change")]
    kind: Literal["quantity", "price", "product", "terminate"]
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None, description="kind quantity: the new quantity"
    )
    unit_price: (
        Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description="per unit")]
        | None
    ) = Field(default=None, description="kind price: the new unit price, before discounts")
    product: CatalogName | None = Field(default=None, description="kind product: the new one")
    effective_at: AwareDatetime = Field(description="when it takes effect; in the future")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> ContractChangeNew:
        needs = {"quantity": "quantity", "price": "unit_price", "product": "product"}
        for kind, name in needs.items():
            given = getattr(self, name) is not None
            if given and self.kind != kind:
                raise ValueError(f"{name} goes with kind {kind!r}, and only with it")
            if not given and self.kind == kind:
                raise ValueError(f"kind {kind!r} needs {name}")
        return self
