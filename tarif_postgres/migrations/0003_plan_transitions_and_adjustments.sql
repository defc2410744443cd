-- Plan transitions due at a date, and balance adjustments (deltas the engine applies once).

CREATE TABLE plan_transitions (
    id bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    plan text NOT NULL,
    effective_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'done', 'cancelled')),
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz
);
CREATE INDEX plan_transitions_due ON plan_transitions (effective_at) WHERE status = 'scheduled';

-- An adjustment is recorded first (pending), then applied by the engine under its id, so a
-- crash between the two is retried without applying it twice.
CREATE TABLE balance_adjustments (
    id bigserial PRIMARY KEY,
    request_id text NOT NULL UNIQUE,          -- the caller's idempotency key
    customer_id bigint NOT NULL REFERENCES customers (id),
    balance_id text NOT NULL,
    amount numeric NOT NULL CHECK (amount <> 0),  -- in the resource's unit; + gives, - takes
    reason text NOT NULL,
    tax text,
    tax_provider text,
    ledger text,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'refused')),
    result text,
    balance_after numeric,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz
);
CREATE INDEX balance_adjustments_pending ON balance_adjustments (id) WHERE status = 'pending';
CREATE INDEX balance_adjustments_customer ON balance_adjustments (customer_id, id);
