-- SEPA direct debit: mandates, collections (pain.008) and their items, the bank's results
-- (docs/sepa.md).

-- A signed mandate. Its reference is unique per creditor for ever (a revoked reference is never
-- given to another customer); `creditor_id` is '' while TARIF_SEPA_CREDITOR_ID is unset (rows
-- are given the creditor once it is set). `sequence` is FRST until a collection under the
-- mandate has been paid, RCUR afterwards; a rejected FRST stays FRST.
CREATE TABLE sepa_mandates (
    id bigserial PRIMARY KEY,
    creditor_id text NOT NULL,
    reference text NOT NULL CHECK (reference ~ '^[A-Za-z0-9+?/:().,'' -]{1,35}$'),
    customer_id bigint NOT NULL REFERENCES customers (id),
    iban text NOT NULL,
    bic text,
    signature_date date NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    sequence text NOT NULL DEFAULT 'FRST' CHECK (sequence IN ('FRST', 'RCUR')),
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creditor_id, reference),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE UNIQUE INDEX sepa_mandates_one_active ON sepa_mandates (customer_id)
    WHERE status = 'active';
CREATE INDEX sepa_mandates_unassigned ON sepa_mandates (id) WHERE creditor_id = '';

-- The mandates customers already hold in payment_info. A reference held by several customers
-- (accepted before references were checked) goes to the oldest of them; the others get no
-- mandate row and are not collected until their payment info names a reference of their own.
-- A customer already paid by direct debit continues with RCUR.
INSERT INTO sepa_mandates (creditor_id, reference, customer_id, iban, bic, signature_date,
    sequence)
SELECT DISTINCT ON (c.payment_info ->> 'mandate_id') '', c.payment_info ->> 'mandate_id', c.id,
    c.payment_info ->> 'iban', nullif(c.payment_info ->> 'bic', ''),
    (c.payment_info ->> 'signature_date')::date,
    CASE WHEN EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.id
        AND p.method = 'direct_debit' AND p.kind = 'charge') THEN 'RCUR' ELSE 'FRST' END
FROM customers c
WHERE c.payment_method = 'direct_debit' AND c.status <> 'deleted'
    AND c.payment_info ?& ARRAY['mandate_id', 'iban', 'signature_date']
ORDER BY c.payment_info ->> 'mandate_id', c.id;

-- A pain.008 file asking the creditor's bank to collect due invoices on one date. `open` until
-- every item has the bank's result. Its XML is kept as sent.
CREATE TABLE sepa_collections (
    id bigserial PRIMARY KEY,
    request_id text NOT NULL UNIQUE,
    message_id text NOT NULL UNIQUE,       -- GrpHdr/MsgId: the bank's reports quote it
    creditor_id text NOT NULL,
    collection_date date NOT NULL,
    scheme text NOT NULL,                  -- pain.008.001.08
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    currency text NOT NULL DEFAULT 'EUR' CHECK (currency = 'EUR'),
    item_count integer NOT NULL DEFAULT 0,
    total numeric NOT NULL DEFAULT 0,
    document text,                         -- the XML, validated against the scheme's XSD
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz
);
CREATE INDEX sepa_collections_open ON sepa_collections (id) WHERE status = 'open';

-- One debit: an invoice's amount due under the customer's mandate. `pending` until the bank
-- answers; an invoice is pending in one collection at most.
CREATE TABLE sepa_collection_items (
    id bigserial PRIMARY KEY,
    collection_id bigint NOT NULL REFERENCES sepa_collections (id),
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    mandate_id bigint NOT NULL REFERENCES sepa_mandates (id),
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    amount numeric NOT NULL CHECK (amount > 0),
    end_to_end_id text NOT NULL UNIQUE,
    sequence_type text NOT NULL CHECK (sequence_type IN ('FRST', 'RCUR')),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    reason_code text,                      -- the bank's reason for a rejection (AM04, MD01, ...)
    payment_id bigint REFERENCES payments (id),
    result_at timestamptz,
    UNIQUE (collection_id, invoice_id),
    CHECK ((status = 'accepted') = (payment_id IS NOT NULL)),
    CHECK ((status = 'pending') = (result_at IS NULL))
);
CREATE UNIQUE INDEX sepa_items_one_open ON sepa_collection_items (invoice_id)
    WHERE status = 'pending';
CREATE INDEX sepa_items_collection ON sepa_collection_items (collection_id, id);
CREATE INDEX sepa_items_mandate ON sepa_collection_items (mandate_id);
