-- Balances in the back office: new balances and the adjustments the engine applies once
-- (admin_api/balances.py).

-- name: groups_with_active_service
-- A customer's balance groups that have an active service, with one of its identifiers: name, identifier. $1 customer id
SELECT g.name, min(v.identifier) AS identifier FROM balance_groups g
JOIN subscriptions s ON s.balance_group_id = g.id AND s.status = 'active'
JOIN services v ON v.subscription_id = s.id AND v.status = 'active'
WHERE g.customer_id = $1 GROUP BY g.id ORDER BY g.id;

-- name: insert_balance
-- A new balance of a customer in one of its groups. $1 customer id, $2 balance id, $3 resource, $4 amount, $5 valid to, $6 priority, $7 balance group id
INSERT INTO balances (customer_id, balance_id, resource, amount, valid_to,
    priority, balance_group_id) VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: balance_resource
-- The resource of a customer's balance. $1 customer id, $2 balance id
SELECT resource FROM balances WHERE customer_id = $1 AND balance_id = $2;

-- name: tax_exists
-- 1 if the tax exists, else no row. $1 tax name
SELECT 1 FROM taxes WHERE name = $1;

-- name: ledger_exists
-- 1 if the ledger exists, else no row. $1 ledger name
SELECT 1 FROM ledgers WHERE name = $1;

-- name: insert_adjustment
-- Records a pending adjustment once per request id; its id, or nothing when the request id was used. $1 request id, $2 customer id, $3 balance id, $4 amount, $5 reason, $6 tax, $7 tax provider, $8 ledger, $9 requested by
INSERT INTO balance_adjustments (request_id, customer_id, balance_id, amount,
    reason, tax, tax_provider, ledger, requested_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (request_id) DO NOTHING RETURNING id;

-- name: adjustment_of_request
-- What an adjustment request id was first used for: id, customer_id, balance_id, amount. $1 request id
SELECT id, customer_id, balance_id, amount FROM balance_adjustments
WHERE request_id = $1;

-- name: adjustment_to_apply
-- An adjustment with its balance's engine account and resource. $1 adjustment id
SELECT a.*, g.account_id, b.resource FROM balance_adjustments a
JOIN balances b ON b.customer_id = a.customer_id AND b.balance_id = a.balance_id
JOIN balance_groups g ON g.id = b.balance_group_id
WHERE a.id = $1;

-- name: note_adjustment_retry
-- Notes why an adjustment stays pending. $1 adjustment id, $2 result
UPDATE balance_adjustments SET result = $2 WHERE id = $1;

-- name: finish_adjustment
-- Records the engine's answer to a pending adjustment. $1 adjustment id, $2 status (applied or refused), $3 result, $4 balance after or null
UPDATE balance_adjustments SET status = $2, result = $3, balance_after = $4,
    applied_at = now() WHERE id = $1 AND status = 'pending';

-- name: adjustment_by_id
-- One adjustment as the API shows it. $1 adjustment id
SELECT id, request_id, customer_id, balance_id, amount::text AS amount, reason, tax,
    tax_provider, ledger, status, result, balance_after::text AS balance_after, requested_by,
    requested_at, applied_at
FROM balance_adjustments WHERE id = $1;

-- name: pending_adjustments
-- Up to 100 pending adjustments, oldest first: id.
SELECT id FROM balance_adjustments WHERE status = 'pending' ORDER BY id LIMIT 100;

-- name: adjustments_of_customer
-- One page of a customer's adjustments as the API shows them, oldest first. $1 customer id, $2 after this id (0 on page 1), $3 page size
SELECT id, request_id, customer_id, balance_id, amount::text AS amount, reason, tax,
    tax_provider, ledger, status, result, balance_after::text AS balance_after, requested_by,
    requested_at, applied_at
FROM balance_adjustments WHERE customer_id = $1 AND id > $2 ORDER BY id LIMIT $3;
