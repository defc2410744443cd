-- Hierarchy groups: at billing time a member's invoice goes to the owner's billing profile,
-- which becomes liable for it (the billing runs will apply it). One level: an owner is nobody's
-- member and a member owns no group; a customer is in one hierarchy at most.
CREATE TABLE hierarchy_groups (
    id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    owner_id bigint NOT NULL UNIQUE REFERENCES customers (id),
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hierarchy_members (
    group_id text NOT NULL REFERENCES hierarchy_groups (id),
    customer_id bigint NOT NULL UNIQUE REFERENCES customers (id),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, customer_id)
);
