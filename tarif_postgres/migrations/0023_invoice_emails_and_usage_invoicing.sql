-- Invoice e-mails and usage-triggered invoicing (issue #12; docs/jobs-invoicing.md).

-- An issued invoice or credit note waits for its e-mail while email_pending is true; the
-- invoicing job (or POST /v1/invoices/{id}/email) sets it false once email_log holds its
-- message `invoice:<id>:issued` as sent. Invoices issued before this migration were never
-- e-mailed and are not to be now: they start false; new ones start true. (The column is not
-- among the frozen figures of an issued invoice, so it may change.)
ALTER TABLE invoices ADD COLUMN email_pending boolean NOT NULL DEFAULT false;
ALTER TABLE invoices ALTER COLUMN email_pending SET DEFAULT true;
CREATE INDEX invoices_email_pending ON invoices (id) WHERE email_pending;

-- Usage-triggered invoicing: a rated record of a product marked `invoice_on_usage` is pending
-- until the usage_invoicing job puts it on a bill of its own (kind `usage`); collected_bill_id
-- is then that bill, and no other bill ever takes the record (the cycle run skips collected
-- records). No foreign key: rated_events is bulk-loaded partition by partition.
ALTER TABLE rated_events ADD COLUMN collected_bill_id bigint;

-- A record's product is found through the line it was charged to (services.purchase_id).
CREATE INDEX services_purchase ON services (purchase_id) WHERE purchase_id IS NOT NULL;

ALTER TABLE bills DROP CONSTRAINT bills_kind_check;
ALTER TABLE bills ADD CONSTRAINT bills_kind_check CHECK (kind IN ('cycle', 'now', 'usage'));

-- The invoicing schedule of usage-triggered products (the seed's "Invoicing Schedule" lines):
-- one line per usage bill and purchase, what was collected and when, `calculated` when the
-- bill is made and `invoiced` once its invoice is issued (a failed invoice keeps its line
-- `calculated` until it is made again).
CREATE TABLE invoicing_schedule (
    id bigserial PRIMARY KEY,
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    bill_id bigint NOT NULL REFERENCES bills (id),
    purchase_id bigint NOT NULL REFERENCES purchases (id),
    product text NOT NULL,
    records bigint NOT NULL,
    units numeric NOT NULL,
    amount numeric NOT NULL,              -- the sum of the bill's items for this purchase
    first_event timestamptz NOT NULL,
    last_event timestamptz NOT NULL,
    process_now timestamptz NOT NULL,     -- the run's "process now": usage up to this time
    status text NOT NULL DEFAULT 'calculated' CHECK (status IN ('calculated', 'invoiced')),
    invoice_id bigint REFERENCES invoices (id),
    run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL,
    calculated_at timestamptz NOT NULL DEFAULT now(),
    invoiced_at timestamptz,
    UNIQUE (bill_id, purchase_id)
);
CREATE INDEX invoicing_schedule_profile ON invoicing_schedule (billing_profile_id, id);
