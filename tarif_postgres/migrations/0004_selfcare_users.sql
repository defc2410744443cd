-- The customer's own login for a self-care portal: one per customer, argon2id passwords,
-- one-time tokens (stored as SHA-256) for e-mail verification and password reset.
CREATE TABLE selfcare_users (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL UNIQUE REFERENCES customers (id),
    email text NOT NULL,
    password_hash text NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    email_verified_at timestamptz,
    verification_hash bytea,
    verification_expires_at timestamptz,
    reset_hash bytea,
    reset_expires_at timestamptz,
    failed_logins integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX selfcare_users_email ON selfcare_users (lower(email));
