-- Sharing groups kept in Postgres: an owner's balances used by its members (engine.sharing).
-- A customer is a member of one group at most.
CREATE TABLE sharing_groups (
    id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    owner_id bigint NOT NULL UNIQUE REFERENCES customers (id),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    valid_from timestamptz,
    valid_to timestamptz,
    policy jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sharing_members (
    group_id text NOT NULL REFERENCES sharing_groups (id),
    customer_id bigint NOT NULL UNIQUE REFERENCES customers (id),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, customer_id)
);

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('catalog', 'account', 'group'));
