-- Purchase jobs (issue #12): renewals of recurring products (purchase_check), purchases with a
-- future start (deferred_activation), contract change requests (contract_change), and the
-- default jobs that apply what comes due at a date (docs/jobs-purchases.md).

-- A purchase may wait for its start (`scheduled`: nothing granted or paid yet), and a recurring
-- one whose renewal the balance could not pay is `suspended` (its services stop, no new grant)
-- until a later run is paid or its grace ends.
ALTER TABLE purchases DROP CONSTRAINT purchases_status_check;
ALTER TABLE purchases ADD CONSTRAINT purchases_status_check CHECK (
    status IN ('scheduled', 'pending', 'active', 'suspended', 'refused', 'cancelled'));
ALTER TABLE purchases ADD COLUMN starts_at timestamptz;   -- a deferred purchase's start
ALTER TABLE purchases ADD COLUMN ends_at timestamptz;     -- the product ends (a termination)
-- a recurring product's cycle in progress (its billing profile's cycle), renewed at its end;
-- NULL for one-off products (and recurring ones bought before: taken from created_at)
ALTER TABLE purchases ADD COLUMN period_start timestamptz;
ALTER TABLE purchases ADD COLUMN period_end timestamptz;
-- cycles given so far, the first included: a coupon's discount lasts `coupons.cycles` of them
ALTER TABLE purchases ADD COLUMN cycles integer NOT NULL DEFAULT 1 CHECK (cycles >= 1);
CREATE INDEX purchases_renewing ON purchases (id)
    WHERE status IN ('active', 'suspended') AND (charge = 'recurring' OR ends_at IS NOT NULL);
CREATE INDEX purchases_scheduled ON purchases (starts_at) WHERE status = 'scheduled';

-- The balance a purchase granted (one per cycle for a renewed grant): a renewal removes the
-- purchase's grants that have ended.
ALTER TABLE balances ADD COLUMN purchase_id bigint REFERENCES purchases (id);
UPDATE balances b SET purchase_id = p.id
FROM purchases p JOIN subscriptions s ON s.id = p.subscription_id
WHERE b.customer_id = s.customer_id AND b.balance_id = p.balance_id;
CREATE INDEX balances_purchase ON balances (purchase_id) WHERE purchase_id IS NOT NULL;

-- One row per renewed cycle of a recurring product, so a cycle is renewed (paid, granted)
-- once whatever the runs. paid_by: balance (prepaid, through the engine's adjustment), bill
-- (postpaid: the billing runs charge the fee, `purchases.billed_through`), free (nothing due).
CREATE TABLE purchase_renewals (
    id bigserial PRIMARY KEY,
    purchase_id bigint NOT NULL REFERENCES purchases (id),
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    cycle integer NOT NULL CHECK (cycle >= 2),
    amount numeric NOT NULL CHECK (amount >= 0),   -- the cycle's price after its discounts
    discounts jsonb NOT NULL DEFAULT '[]',          -- [{source, id, amount}] of this cycle
    paid_by text NOT NULL CHECK (paid_by IN ('balance', 'bill', 'free')),
    -- pending: the payment is asked; done: paid (or billed) and granted; unpaid: the engine
    -- refused the payment (the purchase is suspended, later runs try again); cancelled: still
    -- unpaid when the grace ended (the purchase is cancelled)
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'done', 'unpaid', 'cancelled')),
    adjustment_id bigint REFERENCES balance_adjustments (id),  -- the latest payment attempt
    attempts integer NOT NULL DEFAULT 0,
    error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (purchase_id, period_start)
);
CREATE INDEX purchase_renewals_open ON purchase_renewals (purchase_id)
    WHERE status IN ('pending', 'unpaid');

-- A request to change a contract line (a purchase) at a date: its quantity, its unit price,
-- the product itself, or its termination. Applied by the contract-change job when due.
CREATE TABLE contract_changes (
    id bigserial PRIMARY KEY,
    request_id text NOT NULL UNIQUE,                -- the caller's idempotency key
    customer_id bigint NOT NULL REFERENCES customers (id),
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    purchase_id bigint NOT NULL REFERENCES purchases (id),
    kind text NOT NULL CHECK (kind IN ('quantity', 'price', 'product', 'terminate')),
    quantity integer CHECK (quantity BETWEEN 1 AND 1000000),
    unit_price numeric CHECK (unit_price >= 0),
    product text,
    effective_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'done', 'failed', 'cancelled')),
    reason text NOT NULL DEFAULT '',
    new_purchase_id bigint REFERENCES purchases (id),  -- a product change: what replaced it
    adjustment_id bigint REFERENCES balance_adjustments (id),  -- a grant moved, a payment
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz,
    CHECK ((kind = 'quantity') = (quantity IS NOT NULL)),
    CHECK ((kind = 'price') = (unit_price IS NOT NULL)),
    CHECK ((kind = 'product') = (product IS NOT NULL))
);
CREATE INDEX contract_changes_due ON contract_changes (effective_at) WHERE status = 'scheduled';
CREATE INDEX contract_changes_customer ON contract_changes (customer_id, id);
CREATE INDEX contract_changes_purchase ON contract_changes (purchase_id, id);

-- A deployment that defines no jobs still gets what comes due at a date done: these default
-- jobs (operators may edit, pause or delete them like any other). Date-driven requests every
-- 15 minutes, renewals hourly, deletions daily; the first run is the scheduler's one catch-up
-- run of the current hour (day).
INSERT INTO jobs (job_type, name, description, schedule_kind, start_at, every_n, every_unit,
                  time_zone, next_run_at)
SELECT t.job_type, t.name, t.description, 'every', t.start_at, t.every_n, t.every_unit, 'UTC',
       t.start_at
FROM (VALUES
    ('plan_transition', 'plan-transitions', 'Applies scheduled plan transitions that are due',
     date_trunc('hour', now()), 15, 'minutes'),
    ('contract_change', 'contract-changes', 'Applies contract change requests that are due',
     date_trunc('hour', now()), 15, 'minutes'),
    ('deferred_activation', 'deferred-activation',
     'Activates (and, prepaid, pays for) purchases whose start has come',
     date_trunc('hour', now()), 15, 'minutes'),
    ('purchase_check', 'purchase-check',
     'Renews recurring products whose cycle ended, cancels those whose end has come',
     date_trunc('hour', now()), 1, 'hours'),
    ('account_deletion', 'account-deletion',
     'Deletes closed accounts whose retention has passed',
     date_trunc('day', now()), 1, 'days')
) AS t (job_type, name, description, start_at, every_n, every_unit)
ON CONFLICT (name) DO NOTHING;
