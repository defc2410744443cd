-- The admin API's own tables (keys, audit log), customers with their subscriptions and services,
-- the published catalog, and the outbox that brings Redis up to date with Postgres.

CREATE TABLE api_keys (
    id bigserial PRIMARY KEY,
    prefix text NOT NULL UNIQUE,          -- shown to people: "tk_ab12cd34"
    hash bytea NOT NULL UNIQUE,           -- SHA-256 of the whole key (keys are random, 256 bits)
    role text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    last_used_at timestamptz
);

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,                  -- "key:<prefix>" or "cli"
    role text NOT NULL,
    action text NOT NULL,                 -- "customer.onboard", "catalog.publish", ...
    object_type text NOT NULL,
    object_id text NOT NULL,
    before jsonb,
    after jsonb
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, id);

CREATE TABLE customer_types (
    name text PRIMARY KEY,
    description text NOT NULL DEFAULT ''
);
INSERT INTO customer_types (name, description) VALUES
    ('residential', 'a person'), ('business', 'a company or organisation');

-- Extra fields of a customer, each with a declared type that values are checked against.
CREATE TABLE custom_attributes (
    name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    type text NOT NULL CHECK (type IN ('string', 'integer', 'decimal', 'boolean', 'date')),
    required boolean NOT NULL DEFAULT false,
    description text NOT NULL DEFAULT ''
);

CREATE TABLE customers (
    id bigserial PRIMARY KEY,             -- the account number people see
    account_id text NOT NULL UNIQUE,      -- the engine's account id
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'closed')),
    customer_type text NOT NULL REFERENCES customer_types (name),
    first_name text NOT NULL,
    last_name text NOT NULL,
    full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
    email text NOT NULL,
    phone text NOT NULL,
    organisation text,
    address text NOT NULL,
    city text NOT NULL,
    state text NOT NULL,
    postcode text,
    country text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    custom_attributes jsonb NOT NULL DEFAULT '{}',
    payment_method text NOT NULL CHECK (payment_method IN ('invoice', 'credit_card', 'direct_debit')),
    payment_info jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    delete_after timestamptz,
    -- words of the name, e-mail, address, city and organisation, for prefix search
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple',
        first_name || ' ' || last_name || ' ' || translate(email, '@.', '  ') || ' ' || address
        || ' ' || city || ' ' || coalesce(organisation, ''))) STORED
);
CREATE INDEX customers_search ON customers USING gin (search);
CREATE INDEX customers_email ON customers (lower(email) text_pattern_ops);
CREATE INDEX customers_full_name ON customers (lower(full_name) text_pattern_ops);
CREATE INDEX customers_city ON customers (lower(city), id);
CREATE INDEX customers_country ON customers (country, id);
CREATE INDEX customers_status ON customers (status, id);
CREATE INDEX customers_type ON customers (customer_type, id);
CREATE INDEX customers_payment ON customers (payment_method, id);
CREATE INDEX customers_name_order ON customers (last_name, first_name, id);
CREATE INDEX customers_created ON customers (created_at, id);

CREATE TABLE subscriptions (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    plan text NOT NULL,
    payment_type text NOT NULL CHECK (payment_type IN ('prepaid', 'postpaid')),
    currency text NOT NULL,               -- the money resource (e.g. EUR)
    billing_interval text NOT NULL CHECK (billing_interval IN ('weekly', 'monthly', 'quarterly', 'yearly')),
    billing_day smallint NOT NULL CHECK (billing_day BETWEEN 1 AND 28),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    credit_profile text,
    credit_limit numeric CHECK (credit_limit >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

CREATE TABLE services (
    identifier text PRIMARY KEY,          -- unique across all customers (MSISDN, user id...)
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    valid_from timestamptz,
    valid_to timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX services_subscription ON services (subscription_id);

-- Balances as provisioned (the engine holds the live amounts in Redis).
CREATE TABLE balances (
    customer_id bigint NOT NULL REFERENCES customers (id),
    balance_id text NOT NULL,
    resource text NOT NULL,
    amount numeric NOT NULL,              -- in the resource's unit (e.g. 10.00 EUR, 6000 seconds)
    valid_from timestamptz,
    valid_to timestamptz,
    priority integer NOT NULL DEFAULT 0,
    credit_limit numeric,
    PRIMARY KEY (customer_id, balance_id)
);

-- Every published catalog; the newest is the one the engines run.
CREATE TABLE catalog_versions (
    version bigserial PRIMARY KEY,
    document jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by text NOT NULL
);

-- Changes for Redis, written in the same transaction as the Postgres change they follow.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('catalog', 'account')),
    key text NOT NULL,                    -- the account id, or 'catalog'
    created_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (id) WHERE applied_at IS NULL;
