-- Balance groups: a customer holds several, each one engine account (its balances in Redis);
-- a subscription is bound to one and its usage can only move that group's balances.
CREATE TABLE balance_groups (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    account_id text NOT NULL UNIQUE,      -- the engine's account
    name text NOT NULL,
    billing_profile_id bigint REFERENCES billing_profiles (id),
    valid_from timestamptz,
    valid_to timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, name)
);

-- Customers onboarded before: their one account becomes their `main` group.
INSERT INTO balance_groups (customer_id, account_id, name, billing_profile_id)
SELECT c.id, c.account_id, 'main',
       (SELECT p.id FROM billing_profiles p WHERE p.customer_id = c.id ORDER BY p.id LIMIT 1)
FROM customers c;

ALTER TABLE subscriptions ADD COLUMN balance_group_id bigint REFERENCES balance_groups (id);
UPDATE subscriptions s SET balance_group_id = g.id
FROM balance_groups g WHERE g.customer_id = s.customer_id;
ALTER TABLE subscriptions ALTER COLUMN balance_group_id SET NOT NULL;
CREATE INDEX subscriptions_group ON subscriptions (balance_group_id);

-- Balance ids stay unique per customer (adjustments name them so); each sits in one group.
ALTER TABLE balances ADD COLUMN balance_group_id bigint REFERENCES balance_groups (id);
UPDATE balances b SET balance_group_id = g.id
FROM balance_groups g WHERE g.customer_id = b.customer_id;
ALTER TABLE balances ALTER COLUMN balance_group_id SET NOT NULL;
CREATE INDEX balances_group ON balances (balance_group_id);

-- Coupons: a promotion code giving a discount on a subscription's product prices for a number
-- of billing cycles (0: for as long as the subscription lasts).
CREATE TABLE coupons (
    code text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{4,64}$'),
    percent numeric CHECK (percent > 0 AND percent <= 100),
    amount numeric CHECK (amount > 0),     -- in `currency`, off each product's price
    currency text,
    cycles integer NOT NULL DEFAULT 0 CHECK (cycles >= 0),
    plans text[] NOT NULL DEFAULT '{}',    -- empty: any plan
    max_uses integer NOT NULL DEFAULT 1 CHECK (max_uses >= 1),
    uses integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    expires_at timestamptz,
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((percent IS NULL) <> (amount IS NULL)),
    CHECK ((amount IS NULL) = (currency IS NULL))
);

CREATE TABLE coupon_redemptions (
    code text NOT NULL REFERENCES coupons (code),
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, subscription_id)
);

-- What a subscription bought: the products of its plan's bundles and of its option packs, with
-- the price after discounts (per cycle for recurring ones) and the balance each one granted.
CREATE TABLE purchases (
    id bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    origin text NOT NULL CHECK (origin IN ('plan', 'pack', 'voucher')),
    offer text NOT NULL,                  -- the bundle (plan) or pack it came from
    product text NOT NULL,
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    value numeric,                        -- granted per unit of quantity (resource's unit)
    currency text NOT NULL,
    charge text NOT NULL CHECK (charge IN ('one_off', 'recurring')),
    list_price numeric NOT NULL CHECK (list_price >= 0),   -- unit price x quantity
    discount numeric NOT NULL CHECK (discount >= 0),
    price numeric NOT NULL CHECK (price >= 0),             -- list_price - discount
    discounts jsonb NOT NULL DEFAULT '[]',                 -- [{source, id, amount}]
    coupons text[] NOT NULL DEFAULT '{}',  -- the codes whose discounts it carries
    -- the grant: a balance of `resource` holding `granted` (value x quantity), created when the
    -- purchase becomes active
    balance_id text,
    resource text,
    granted numeric,
    valid_from timestamptz,
    valid_to timestamptz,
    -- prepaid: `pending` until the engine took the price from the money balance (the
    -- adjustment), then `active`, or `refused` when the balance could not pay
    adjustment_id bigint REFERENCES balance_adjustments (id),
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('pending', 'active', 'refused', 'cancelled')),
    request_id text,                      -- a pack purchase's idempotency key
    created_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz
);
CREATE INDEX purchases_pending ON purchases (adjustment_id) WHERE status = 'pending';
CREATE INDEX purchases_subscription ON purchases (subscription_id);
CREATE INDEX purchases_request ON purchases (subscription_id, request_id)
    WHERE request_id IS NOT NULL;

ALTER TABLE services ADD COLUMN purchase_id bigint REFERENCES purchases (id);

-- A voucher either credits an amount of a resource or buys a pack (free of charge).
ALTER TABLE vouchers ADD COLUMN pack text;
ALTER TABLE vouchers ALTER COLUMN resource DROP NOT NULL;
ALTER TABLE vouchers ALTER COLUMN amount DROP NOT NULL;
ALTER TABLE vouchers ADD CHECK (
    (pack IS NULL AND resource IS NOT NULL AND amount IS NOT NULL)
    OR (pack IS NOT NULL AND resource IS NULL AND amount IS NULL));
-- a pack voucher is redeemed on one subscription and has no adjustment
ALTER TABLE voucher_redemptions ALTER COLUMN adjustment_id DROP NOT NULL;
ALTER TABLE voucher_redemptions ADD COLUMN subscription_id bigint REFERENCES subscriptions (id);

-- A scheduled plan transition that cannot be applied when due is `failed`, with the reason.
ALTER TABLE plan_transitions DROP CONSTRAINT plan_transitions_status_check;
ALTER TABLE plan_transitions ADD CONSTRAINT plan_transitions_status_check
    CHECK (status IN ('scheduled', 'done', 'cancelled', 'failed'));
ALTER TABLE plan_transitions ADD COLUMN reason text NOT NULL DEFAULT '';
