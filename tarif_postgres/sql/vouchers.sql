-- Vouchers and their redemptions (admin_api/vouchers.py).

-- name: insert_voucher
-- A new voucher. $1 code, $2 resource, $3 amount, $4 pack, $5 max uses, $6 expires at, $7 description
INSERT INTO vouchers (code, resource, amount, pack, max_uses, expires_at,
    description) VALUES ($1, $2, $3::numeric, $4, $5, $6, $7);

-- name: voucher_by_code
-- One voucher as the API shows it. $1 code
SELECT code, resource, amount::text AS amount, pack, max_uses, uses, expires_at,
    description, created_at
FROM vouchers WHERE code = $1;

-- name: all_vouchers
-- One page of vouchers as the API shows them, by code. $1 after this code ('' on page 1), $2 page size
SELECT code, resource, amount::text AS amount, pack, max_uses, uses, expires_at,
    description, created_at
FROM vouchers WHERE code > $1 ORDER BY code LIMIT $2;

-- name: lock_voucher_uses
-- How many times a voucher was redeemed (uses), the voucher locked. $1 code
SELECT uses FROM vouchers WHERE code = $1 FOR UPDATE;

-- name: delete_voucher
-- Removes a voucher. $1 code
DELETE FROM vouchers WHERE code = $1;

-- name: lock_voucher
-- A whole voucher row, locked while its uses are counted. $1 code
SELECT * FROM vouchers WHERE code = $1 FOR UPDATE;

-- name: customer_redemption
-- A customer's earlier redemption of a voucher (adjustment_id). $1 code, $2 customer id
SELECT adjustment_id FROM voucher_redemptions WHERE code = $1 AND customer_id = $2;

-- name: balance_to_credit
-- The customer's balance of the resource a credit goes to (no end first), in the group if given. $1 customer id, $2 resource, $3 group id or NULL
SELECT balance_id FROM balances WHERE customer_id = $1 AND resource = $2
    AND ($3::bigint IS NULL OR balance_group_id = $3)
ORDER BY valid_to IS NOT NULL, balance_id LIMIT 1;

-- name: insert_redemption
-- A customer redeemed a voucher. $1 code, $2 customer id, $3 adjustment id, $4 subscription id
INSERT INTO voucher_redemptions (code, customer_id, adjustment_id, subscription_id)
VALUES ($1, $2, $3, $4);

-- name: count_use
-- One more use of a voucher. $1 code
UPDATE vouchers SET uses = uses + 1 WHERE code = $1;

