-- How and when a customer is billed. Onboarding creates the default one from the subscription;
-- `pending_total` and `credit_balance` (an overpayment carried to the next invoice) are kept by
-- the billing runs.
CREATE TABLE billing_profiles (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    name text NOT NULL DEFAULT 'default',
    payment_type text NOT NULL CHECK (payment_type IN ('prepaid', 'postpaid')),
    currency text NOT NULL,
    billing_interval text NOT NULL
        CHECK (billing_interval IN ('weekly', 'monthly', 'quarterly', 'yearly')),
    billing_day smallint NOT NULL CHECK (billing_day BETWEEN 1 AND 28),
    valid_from timestamptz,
    valid_to timestamptz,
    pending_total numeric NOT NULL DEFAULT 0,
    credit_balance numeric NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, name)
);
ALTER TABLE subscriptions ADD COLUMN billing_profile_id bigint REFERENCES billing_profiles (id);

-- Customers onboarded before this migration get their default profile from their subscription.
INSERT INTO billing_profiles (customer_id, payment_type, currency, billing_interval, billing_day)
SELECT DISTINCT ON (customer_id) customer_id, payment_type, currency, billing_interval, billing_day
FROM subscriptions ORDER BY customer_id, id;
UPDATE subscriptions s SET billing_profile_id = p.id
FROM billing_profiles p WHERE p.customer_id = s.customer_id AND p.name = 'default';
