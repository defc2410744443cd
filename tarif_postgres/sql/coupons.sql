-- Coupons and their redemptions (admin_api/coupons.py).

-- name: insert_coupon
-- A new coupon. $1 code, $2 percent or null, $3 amount or null (both as text), $4 currency, $5 cycles, $6 plans, $7 max uses, $8 expires at, $9 description
INSERT INTO coupons (code, percent, amount, currency, cycles, plans, max_uses,
                     expires_at, description)
VALUES ($1, $2::numeric, $3::numeric, $4, $5, $6, $7, $8, $9);

-- name: coupon_by_code
-- One coupon as the API shows it. $1 code
SELECT code, percent::text AS percent, amount::text AS amount, currency, cycles, plans,
    max_uses, uses, expires_at, description, created_at
FROM coupons WHERE code = $1;

-- name: all_coupons
-- One page of coupons as the API shows them, by code. $1 after this code ('' on page 1), $2 page size
SELECT code, percent::text AS percent, amount::text AS amount, currency, cycles, plans,
    max_uses, uses, expires_at, description, created_at
FROM coupons WHERE code > $1 ORDER BY code LIMIT $2;

-- name: lock_coupon_uses
-- How often a coupon was redeemed, the coupon locked until the transaction ends. $1 code
SELECT uses FROM coupons WHERE code = $1 FOR UPDATE;

-- name: remove_coupon
-- Deletes a coupon. $1 code
DELETE FROM coupons WHERE code = $1;

-- name: lock_coupon
-- A coupon, all columns, locked until the transaction ends. $1 code
SELECT * FROM coupons WHERE code = $1 FOR UPDATE;

-- name: coupon_redeemed_on
-- 1 if the coupon was redeemed on the subscription, else no row. $1 code, $2 subscription id
SELECT 1 FROM coupon_redemptions WHERE code = $1 AND subscription_id = $2;

-- name: insert_redemption
-- Records a coupon's redemption on a subscription. $1 code, $2 subscription id
INSERT INTO coupon_redemptions (code, subscription_id) VALUES ($1, $2);

-- name: count_coupon_use
-- Counts one use unless the coupon is used up; the new count, or nothing. $1 code
UPDATE coupons SET uses = uses + 1 WHERE code = $1 AND uses < max_uses RETURNING uses;
