-- Bills, invoices, payments and the journal (docs/billing.md).

-- A tax has a VAT category (UNTDID 5305) for invoices; an exempt one says why.
ALTER TABLE taxes ADD COLUMN category text NOT NULL DEFAULT 'S'
    CHECK (category IN ('S', 'Z', 'E', 'AE', 'K', 'G', 'O', 'L', 'M'));
ALTER TABLE taxes ADD COLUMN exemption_reason text NOT NULL DEFAULT '';

-- The profile's tax (else TARIF_DEFAULT_TAX), payment terms (else TARIF_PAYMENT_TERMS_DAYS), and
-- the usage billed so far: records with event_time < usage_until visible in usage_snapshot.
ALTER TABLE billing_profiles ADD COLUMN tax text REFERENCES taxes (name);
ALTER TABLE billing_profiles ADD COLUMN payment_terms_days smallint
    CHECK (payment_terms_days BETWEEN 0 AND 365);
ALTER TABLE billing_profiles ADD COLUMN usage_until timestamptz;
ALTER TABLE billing_profiles ADD COLUMN usage_snapshot pg_snapshot;

-- The transaction that stored a rated record (as a number, for a BRIN index): a bill takes the
-- records its snapshot sees, so a record stored after a bill was made goes on the next one.
ALTER TABLE rated_events ADD COLUMN ingest_xid bigint NOT NULL
    DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX rated_events_ingest ON rated_events USING brin (ingest_xid);

-- A bill collects one billing cycle's charges of one billing profile: inactive (the next
-- cycle's, prepared), active (the current cycle), billing (billed, not fully paid), closed.
CREATE TABLE bills (
    id bigserial PRIMARY KEY,
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    status text NOT NULL CHECK (status IN ('inactive', 'active', 'billing', 'closed')),
    kind text NOT NULL DEFAULT 'cycle' CHECK (kind IN ('cycle', 'now')),
    currency text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL CHECK (period_end > period_start),
    usage_until timestamptz,              -- once billed: usage taken up to this event time
    total numeric NOT NULL DEFAULT 0,     -- once billed: its invoice's total
    amount_due numeric NOT NULL DEFAULT 0,
    billed_at timestamptz,
    closed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX bills_one_active ON bills (billing_profile_id) WHERE status = 'active';
CREATE UNIQUE INDEX bills_one_inactive ON bills (billing_profile_id) WHERE status = 'inactive';
CREATE UNIQUE INDEX bills_one_per_cycle ON bills (billing_profile_id, period_start)
    WHERE kind = 'cycle';
CREATE INDEX bills_cycle_end ON bills (period_end) WHERE status = 'active';
CREATE INDEX bills_profile ON bills (billing_profile_id, id);

-- A charge on a bill. `source` says what made it and is unique per bill, so taking it twice is
-- a no-op: usage:<account>:<service>:<rate>, fee:<purchase>:<from>, discount:<purchase>:<code>:<from>,
-- once:<purchase>, adjustment:<id>, transfer:<invoice>, tax:<category>:<rate>.
CREATE TABLE bill_items (
    id bigserial PRIMARY KEY,
    bill_id bigint NOT NULL REFERENCES bills (id),
    source text NOT NULL,
    kind text NOT NULL CHECK (kind IN
        ('usage', 'recurring', 'one_time', 'discount', 'adjustment', 'transfer', 'tax')),
    description text NOT NULL,
    balance_group_id bigint REFERENCES balance_groups (id),
    subscription_id bigint REFERENCES subscriptions (id),
    purchase_id bigint REFERENCES purchases (id),
    service text NOT NULL DEFAULT '',
    rate text NOT NULL DEFAULT '',
    events bigint NOT NULL DEFAULT 0,
    units numeric NOT NULL DEFAULT 0,
    amount numeric NOT NULL,              -- net, in the bill's currency, rounded to its decimals
    informational boolean NOT NULL DEFAULT false,  -- prepaid: paid from the balance, not due
    tax text REFERENCES taxes (name),     -- none: the profile's tax
    ledger text REFERENCES ledgers (name),
    period_start timestamptz,
    period_end timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bill_id, source)
);

-- Recurring fees are charged per period up to `billed_through`; a one-time fee once.
ALTER TABLE purchases ADD COLUMN billed_through timestamptz;
ALTER TABLE purchases ADD COLUMN fee_cycles integer NOT NULL DEFAULT 0;  -- periods charged
-- A money adjustment of a postpaid balance is credited (or debited) on one bill.
ALTER TABLE balance_adjustments ADD COLUMN bill_id bigint REFERENCES bills (id);

-- An operator's adjustment of a bill or one of its items (a credit < 0 or a debit > 0).
CREATE TABLE bill_adjustments (
    id bigserial PRIMARY KEY,
    request_id text NOT NULL UNIQUE,
    bill_id bigint NOT NULL REFERENCES bills (id),
    bill_item_id bigint REFERENCES bill_items (id),
    balance_group_id bigint REFERENCES balance_groups (id),
    amount numeric NOT NULL CHECK (amount <> 0),
    reason text NOT NULL,
    tax text REFERENCES taxes (name),
    tax_provider text,
    ledger text REFERENCES ledgers (name),
    credit_note_id bigint,                -- on a billed bill: the credit note it made
    requested_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Gapless invoice numbers: one counter row per series, locked by the issuing transaction.
CREATE TABLE invoice_series (
    name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_-]{1,20}$'),
    next_number bigint NOT NULL DEFAULT 1 CHECK (next_number >= 1)
);

-- The customer-facing document of a bill (or a credit note correcting one). Frozen once
-- `issued_at` is set (its lines are written first); `failed` has no number, keeps the error and
-- is made again once the data is fixed.
CREATE TABLE invoices (
    id bigserial PRIMARY KEY,
    kind text NOT NULL DEFAULT 'invoice' CHECK (kind IN ('invoice', 'credit_note')),
    bill_id bigint NOT NULL REFERENCES bills (id),
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    corrects_id bigint REFERENCES invoices (id),
    series text NOT NULL REFERENCES invoice_series (name),
    seq bigint,
    number text UNIQUE,
    status text NOT NULL CHECK (status IN ('failed', 'billing', 'closed')),
    error text,
    currency text NOT NULL,
    decimals smallint NOT NULL DEFAULT 2,
    issue_date date,
    due_date date,
    period_start date,
    period_end date,                      -- inclusive
    seller jsonb,
    buyer jsonb,
    net_total numeric NOT NULL DEFAULT 0,
    tax_total numeric NOT NULL DEFAULT 0,
    total numeric NOT NULL DEFAULT 0,
    credit_applied numeric NOT NULL DEFAULT 0 CHECK (credit_applied >= 0),
    paid numeric NOT NULL DEFAULT 0,
    credited numeric NOT NULL DEFAULT 0,     -- by credit notes correcting it
    transferred numeric NOT NULL DEFAULT 0,  -- hierarchy: the part the group owner owes
    amount_due numeric GENERATED ALWAYS AS
        (total - credit_applied - paid - credited - transferred) STORED,
    transferred_to bigint REFERENCES billing_profiles (id),
    notes text[] NOT NULL DEFAULT '{}',
    issued_at timestamptz,
    closed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (series, seq),
    CHECK ((number IS NULL) = (seq IS NULL)),
    CHECK (status = 'failed' OR number IS NOT NULL),
    CHECK ((kind = 'credit_note') = (corrects_id IS NOT NULL))
);
CREATE UNIQUE INDEX invoices_one_per_bill ON invoices (bill_id) WHERE kind = 'invoice';
CREATE INDEX invoices_profile ON invoices (billing_profile_id, id);
CREATE INDEX invoices_due ON invoices (billing_profile_id, due_date) WHERE status = 'billing';
CREATE INDEX invoices_issued ON invoices (issue_date, id);

CREATE TABLE invoice_lines (
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    number integer NOT NULL,
    kind text NOT NULL,
    description text NOT NULL,
    quantity numeric NOT NULL,
    unit_price numeric NOT NULL,
    net numeric NOT NULL,
    tax text,
    tax_category text NOT NULL,
    tax_rate numeric NOT NULL,
    ledger text,
    bill_item_id bigint REFERENCES bill_items (id),
    period_start date,
    period_end date,
    PRIMARY KEY (invoice_id, number)
);

CREATE TABLE invoice_taxes (
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    category text NOT NULL,
    rate numeric NOT NULL,
    taxable numeric NOT NULL,
    tax numeric NOT NULL,
    exemption_reason text NOT NULL DEFAULT '',
    PRIMARY KEY (invoice_id, category, rate)
);

-- An issued invoice never changes: its figures, parties, dates, lines and taxes are frozen;
-- only what payments and corrections move (paid, credited, transferred, status, closed_at).
CREATE FUNCTION invoices_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.issued_at IS NOT NULL THEN
            RAISE EXCEPTION 'invoice % is issued and cannot be deleted', OLD.number
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.issued_at IS NOT NULL AND (
        (NEW.kind, NEW.bill_id, NEW.billing_profile_id, NEW.customer_id, NEW.corrects_id,
         NEW.series, NEW.seq, NEW.number, NEW.currency, NEW.decimals, NEW.issue_date,
         NEW.due_date, NEW.period_start, NEW.period_end, NEW.seller, NEW.buyer, NEW.net_total,
         NEW.tax_total, NEW.total, NEW.credit_applied, NEW.issued_at, NEW.notes)
        IS DISTINCT FROM
        (OLD.kind, OLD.bill_id, OLD.billing_profile_id, OLD.customer_id, OLD.corrects_id,
         OLD.series, OLD.seq, OLD.number, OLD.currency, OLD.decimals, OLD.issue_date,
         OLD.due_date, OLD.period_start, OLD.period_end, OLD.seller, OLD.buyer, OLD.net_total,
         OLD.tax_total, OLD.total, OLD.credit_applied, OLD.issued_at, OLD.notes)
    ) THEN
        RAISE EXCEPTION 'invoice % is issued and cannot be changed', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoices_frozen BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_frozen();

CREATE FUNCTION invoice_parts_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    issued text;
BEGIN
    SELECT coalesce(number, '') INTO issued FROM invoices
    WHERE id = CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END
      AND issued_at IS NOT NULL;
    IF issued IS NOT NULL THEN
        RAISE EXCEPTION 'invoice % is issued: its lines and taxes cannot change', issued
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER invoice_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_parts_frozen();
CREATE TRIGGER invoice_taxes_frozen BEFORE INSERT OR UPDATE OR DELETE ON invoice_taxes
    FOR EACH ROW EXECUTE FUNCTION invoice_parts_frozen();

-- Money received (charge) or given back (refund), offline or by direct debit; idempotent by
-- request id. What is not allocated to invoices becomes the profile's credit balance.
CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    request_id text NOT NULL UNIQUE,
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    kind text NOT NULL CHECK (kind IN ('charge', 'refund')),
    method text NOT NULL CHECK (method IN ('cash', 'credit_card', 'transfer', 'direct_debit')),
    provider text NOT NULL DEFAULT '',
    reference text NOT NULL DEFAULT '',
    note text NOT NULL DEFAULT '',
    amount numeric NOT NULL CHECK (amount > 0),
    currency text NOT NULL,
    invoice_id bigint REFERENCES invoices (id),   -- the invoice named by the payer, if any
    to_credit numeric NOT NULL DEFAULT 0,         -- the part that became credit balance
    received_at timestamptz NOT NULL,
    recorded_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_profile ON payments (billing_profile_id, id);

CREATE TABLE payment_allocations (
    payment_id bigint NOT NULL REFERENCES payments (id),
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    amount numeric NOT NULL CHECK (amount > 0),
    PRIMARY KEY (payment_id, invoice_id)
);
CREATE INDEX payment_allocations_invoice ON payment_allocations (invoice_id);

-- Double-entry journal: every invoice, credit note, transfer and payment posts lines whose
-- debits equal their credits per transaction, checked by Postgres at commit.
CREATE TABLE journal_transactions (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN
        ('invoice', 'credit_note', 'payment', 'refund', 'credit_applied', 'transfer')),
    invoice_id bigint REFERENCES invoices (id),
    payment_id bigint REFERENCES payments (id),
    currency text NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_transactions_posted ON journal_transactions (posted_at);

CREATE TABLE journal_lines (
    id bigserial PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES journal_transactions (id),
    account text NOT NULL,   -- receivable, revenue:<ledger>, tax:<tax>, customer_credit, cash, ...
    billing_profile_id bigint REFERENCES billing_profiles (id),
    debit numeric NOT NULL DEFAULT 0 CHECK (debit >= 0),
    credit numeric NOT NULL DEFAULT 0 CHECK (credit >= 0),
    CHECK ((debit = 0) <> (credit = 0))
);
CREATE INDEX journal_lines_transaction ON journal_lines (transaction_id);

CREATE FUNCTION journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    txn bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.transaction_id ELSE NEW.transaction_id END;
    off numeric;
BEGIN
    SELECT coalesce(sum(debit), 0) - coalesce(sum(credit), 0) INTO off
    FROM journal_lines WHERE transaction_id = txn;
    IF off <> 0 THEN
        RAISE EXCEPTION 'journal transaction % does not balance (debits - credits = %)', txn, off
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT OR UPDATE OR DELETE ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_balanced();
