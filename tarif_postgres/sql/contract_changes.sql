-- Contract change requests: a purchase's quantity, unit price, product or termination at a
-- date (admin_api/contract_changes.py creates, lists and cancels them;
-- tarif_billing/contract_changes.py applies the due ones for the contract-change job).

-- name: lock_customer_purchase
-- A customer's purchase with its subscription and group's account, locked. $1 purchase id, $2 customer id
SELECT p.*, s.customer_id, s.status AS subscription_status, s.payment_type, g.account_id
FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE p.id = $1 AND s.customer_id = $2 FOR UPDATE OF p;

-- name: insert_contract_change
-- A change request; returns its row (none when the request id exists). $1 request id, $2 customer id, $3 subscription id, $4 purchase id, $5 kind, $6 quantity, $7 unit price, $8 product, $9 effective at, $10 requested by
INSERT INTO contract_changes (request_id, customer_id, subscription_id, purchase_id, kind,
                              quantity, unit_price, product, effective_at, requested_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (request_id) DO NOTHING
RETURNING id;

-- name: contract_change_of_request
-- The change a request id made (id, customer_id, purchase_id, kind, quantity, unit_price, product, effective_at). $1 request id
SELECT id, customer_id, purchase_id, kind, quantity, unit_price, product, effective_at
FROM contract_changes WHERE request_id = $1;

-- name: contract_change_by_id
-- One change request as the API shows it. $1 change id
SELECT id, request_id, customer_id, subscription_id, purchase_id, kind, quantity,
       unit_price::text AS unit_price, product, effective_at, status, reason, new_purchase_id,
       adjustment_id, requested_by, requested_at, done_at
FROM contract_changes WHERE id = $1;

-- name: contract_changes_page
-- One page of change requests by id; a null filter matches all. $1 status, $2 customer id, $3 purchase id, $4 after this id (0 on page 1), $5 page size
SELECT id, request_id, customer_id, subscription_id, purchase_id, kind, quantity,
       unit_price::text AS unit_price, product, effective_at, status, reason, new_purchase_id,
       adjustment_id, requested_by, requested_at, done_at
FROM contract_changes
WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR customer_id = $2)
  AND ($3::bigint IS NULL OR purchase_id = $3) AND id > $4
ORDER BY id LIMIT $5;

-- name: lock_contract_change
-- One change request (id, status, kind, purchase_id, effective_at), locked. $1 change id
SELECT id, status, kind, purchase_id, effective_at FROM contract_changes
WHERE id = $1 FOR UPDATE;

-- name: cancel_contract_change
-- A scheduled change request is cancelled. $1 change id
UPDATE contract_changes SET status = 'cancelled', done_at = now() WHERE id = $1;

-- name: set_purchase_end
-- A purchase's end: its earliest scheduled termination (NULL: none). $1 purchase id
UPDATE purchases SET ends_at = (
    SELECT min(effective_at) FROM contract_changes
    WHERE purchase_id = $1 AND kind = 'terminate' AND status = 'scheduled')
WHERE id = $1;

-- name: due_contract_changes
-- Scheduled change requests due by a time, of the customers the criteria select (id, effective_at), in the order they apply: by effective time, then id. $1 at, $2 after this effective time, $3 and this id, $4 at most, $5 only these ids (NULL: any), $6...: the criteria's values
SELECT k.id, k.effective_at FROM contract_changes k
JOIN customers c ON c.id = k.customer_id
WHERE k.status = 'scheduled' AND k.effective_at <= $1 AND (k.effective_at, k.id) > ($2, $3)
  AND ($5::bigint[] IS NULL OR k.id = ANY($5::bigint[]))
  AND {where}
ORDER BY k.effective_at, k.id LIMIT $4;

-- name: lock_due_contract_change
-- One scheduled change request if it is due by a time, locked; none when another worker holds it. $1 change id, $2 at
SELECT * FROM contract_changes
WHERE id = $1 AND status = 'scheduled' AND effective_at <= $2
FOR UPDATE SKIP LOCKED;

-- name: earlier_change_waits
-- 1 if an earlier scheduled change of the same purchase is due first (changes apply in order). $1 purchase id, $2 effective at, $3 change id
SELECT 1 FROM contract_changes
WHERE purchase_id = $1 AND status = 'scheduled'
  AND (effective_at, id) < ($2, $3) LIMIT 1;

-- name: lock_purchase_to_change
-- The purchase a change applies to, with what changing it needs, locked. $1 purchase id
SELECT p.*, g.account_id, s.customer_id, s.status AS subscription_status, s.payment_type,
       s.balance_group_id, s.plan
FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE p.id = $1 FOR UPDATE OF p;

-- name: close_contract_change
-- A change request's outcome as of a time. $1 change id, $2 status, $3 reason, $4 done at, $5 new purchase id, $6 adjustment id
UPDATE contract_changes SET status = $2, reason = $3, done_at = $4, new_purchase_id = $5,
    adjustment_id = $6
WHERE id = $1;
