-- The answer of an admin run-billing or bill-now request, kept by its request id: a retry
-- answers the same result and bills nothing again.
CREATE TABLE billing_requests (
    request_id text PRIMARY KEY,
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    operation text NOT NULL CHECK (operation IN ('run_billing', 'bill_now')),
    answer jsonb NOT NULL,
    requested_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
