-- Card payments asked of the payment gateway (issue #12, payment collection): one row per
-- attempt to collect an invoice with the customer's card token, written BEFORE the charge is
-- sent (status `pending`), so a crash between the gateway's answer and the payment's record
-- leaves a row that the next run sends again under the same idempotency key: the gateway
-- answers the charge it made, and the payment is recorded once (its request id derives from the
-- key). docs/payment-collection.md.
CREATE TABLE payment_attempts (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    attempt integer NOT NULL CHECK (attempt >= 1),          -- 1, 2, ... per invoice
    -- sent as the gateway's Idempotency-Key: tarif-<invoice>-<attempt>, or the previous
    -- attempt's key when that one ended in an error (the charge may have been made: sending it
    -- again under the same key cannot charge twice)
    idempotency_key text NOT NULL,
    gateway text NOT NULL DEFAULT '',                       -- the token's gateway (payment info)
    token text NOT NULL,                                    -- the gateway's card token, never a PAN
    amount numeric NOT NULL CHECK (amount > 0),
    currency text NOT NULL,
    -- pending: being sent (or left by a crash); succeeded: approved and recorded (payment_id);
    -- declined: the gateway said no, nothing was charged; error: no answer or a transient one
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'declined', 'error')),
    code text,                                              -- the gateway's decline/error code
    message text,
    charge_id text,                                         -- the gateway's id of the charge
    payment_id bigint REFERENCES payments (id),
    sends integer NOT NULL DEFAULT 0,                       -- requests sent (retries in a run)
    -- when a run may try the invoice again by itself (NULL: not without an operator or a new
    -- card); gave_up: the retry schedule ran out
    next_retry_at timestamptz,
    gave_up boolean NOT NULL DEFAULT false,
    process_now timestamptz NOT NULL,                       -- the time the run acted as of
    trigger text NOT NULL CHECK (trigger IN ('job', 'retry')),
    run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL,
    requested_by text NOT NULL DEFAULT 'system',
    -- a pending attempt is being sent until then; afterwards any run may finish it
    claimed_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    UNIQUE (invoice_id, attempt),
    CHECK ((status = 'succeeded') = (payment_id IS NOT NULL)),
    CHECK (status <> 'pending' OR next_retry_at IS NULL)
);
-- At most one attempt of an invoice is open: two runs at once cannot both charge it.
CREATE UNIQUE INDEX payment_attempts_one_pending ON payment_attempts (invoice_id)
    WHERE status = 'pending';
CREATE INDEX payment_attempts_status ON payment_attempts (status, id);
CREATE INDEX payment_attempts_created ON payment_attempts (created_at, id);
