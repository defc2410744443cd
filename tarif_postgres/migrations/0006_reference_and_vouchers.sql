-- Reference data of the back office: ledgers and taxes (named by adjustments), mail templates
-- (the notifier renders them before its built-in ones), and vouchers.
CREATE TABLE ledgers (
    name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    account_code text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT ''
);

CREATE TABLE taxes (
    name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    rate numeric NOT NULL CHECK (rate >= 0 AND rate <= 100),   -- percent
    provider text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT ''
);

CREATE TABLE mail_templates (
    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,64}\.(email|sms)$'),  -- <type>.<channel>
    body text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vouchers (
    code text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{4,64}$'),
    resource text NOT NULL,
    amount numeric NOT NULL CHECK (amount > 0),
    max_uses integer NOT NULL DEFAULT 1 CHECK (max_uses >= 1),
    uses integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at timestamptz,
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE voucher_redemptions (
    code text NOT NULL REFERENCES vouchers (code),
    customer_id bigint NOT NULL REFERENCES customers (id),
    adjustment_id bigint NOT NULL REFERENCES balance_adjustments (id),
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, customer_id)
);
