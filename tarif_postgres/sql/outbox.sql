-- The outbox: rows naming what the engine must see again, and the reads that rebuild it
-- from Postgres (admin_api/outbox.py).

-- name: queue_change
-- Queues one object for the relay. $1 kind ('account', 'group', 'catalog'), $2 key
INSERT INTO outbox (kind, key) VALUES ($1, $2);

-- name: queue_customer_accounts
-- Queues every balance group of a customer; returns their account ids (key). $1 customer id
INSERT INTO outbox (kind, key)
SELECT 'account', account_id FROM balance_groups WHERE customer_id = $1 ORDER BY id
RETURNING key;

-- name: account_document
-- One balance group as the engine sees it: status, live subscriptions, services, balances (a granted one waives the connect fee when its purchase does). $1 account id
SELECT c.status,
       (SELECT coalesce(json_agg(json_build_object('plan', s.plan, 'payment_type', s.payment_type,
                                 'credit_profile', s.credit_profile) ORDER BY s.id), '[]')
          FROM subscriptions s WHERE s.balance_group_id = g.id AND s.status = 'active')
           AS subscriptions,
       (SELECT coalesce(json_agg(json_build_object('identifier', v.identifier, 'plan', s.plan)
                                 ORDER BY v.identifier), '[]')
          FROM services v JOIN subscriptions s ON s.id = v.subscription_id
         WHERE s.balance_group_id = g.id AND s.status = 'active' AND v.status = 'active'
           AND (v.valid_from IS NULL OR v.valid_from <= now())
           AND (v.valid_to IS NULL OR v.valid_to > now())
           AND (g.valid_from IS NULL OR g.valid_from <= now())
           AND (g.valid_to IS NULL OR g.valid_to > now())) AS services,
       (SELECT coalesce(json_agg(json_build_object(
                 'balance_id', b.balance_id, 'resource', b.resource, 'amount', b.amount::text,
                 'valid_from', b.valid_from, 'valid_to', b.valid_to, 'priority', b.priority,
                 'credit_limit', b.credit_limit::text,
                 'waives_connect_fee', coalesce(p.waives_connect_fee, false))
                 ORDER BY b.balance_id), '[]')
          FROM balances b LEFT JOIN purchases p ON p.id = b.purchase_id
         WHERE b.balance_group_id = g.id) AS balances
FROM balance_groups g JOIN customers c ON c.id = g.customer_id
WHERE g.account_id = $1;

-- name: sharing_group_with_owner
-- One sharing group's row with its owner's engine account (owner). $1 group id
SELECT g.*, c.account_id AS owner FROM sharing_groups g
JOIN customers c ON c.id = g.owner_id WHERE g.id = $1;

-- name: sharing_group_members
-- A sharing group's members: engine account and status, by account. $1 group id
SELECT c.account_id, m.status FROM sharing_members m
JOIN customers c ON c.id = m.customer_id WHERE m.group_id = $1 ORDER BY c.account_id;

-- name: pending_objects
-- Objects with rows not applied yet (kind, key, first): the catalog first, then oldest. $1 limit
SELECT kind, key, min(id) AS first FROM outbox WHERE applied_at IS NULL
GROUP BY kind, key ORDER BY kind <> 'catalog', first LIMIT $1;

-- name: lock_object
-- Holds one object's relay lock until the transaction ends. $1 lock space, $2 object key
SELECT pg_advisory_xact_lock($1, hashtext($2));

-- name: pending_rows
-- The ids of one object's rows not applied yet. $1 kind, $2 key
SELECT id FROM outbox WHERE kind = $1 AND key = $2 AND applied_at IS NULL;

-- name: mark_failed
-- Counts a failed attempt on rows and keeps its error. $1 row ids, $2 error text
UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[]);

-- name: mark_applied
-- Marks rows applied now. $1 row ids
UPDATE outbox SET applied_at = now() WHERE id = ANY($1::bigint[]);

-- name: latest_catalog_document
-- The newest catalog version's document (none before the first publication).
SELECT document FROM catalog_versions ORDER BY version DESC LIMIT 1;

-- name: account_customer_status
-- The status of the customer owning a balance group. $1 account id
SELECT c.status FROM balance_groups g JOIN customers c ON c.id = g.customer_id
WHERE g.account_id = $1;

-- name: all_account_ids
-- Every balance group's engine account id.
SELECT account_id FROM balance_groups;

-- name: all_sharing_group_ids
-- Every sharing group's id.
SELECT id FROM sharing_groups;

-- name: moved_units
-- Per (account, balance_id): units moved by ingested rated records (`owner/balance`: the owner's).
WITH moves AS (
    SELECT account_id, split_part(m, '|', 1) AS balance,
           split_part(m, '|', 3)::bigint AS units
    FROM rated_events, regexp_split_to_table(impacts, ',') AS m
    WHERE impacts <> '')
SELECT CASE WHEN position('/' IN balance) > 0 THEN split_part(balance, '/', 1)
            ELSE account_id END AS account,
       CASE WHEN position('/' IN balance) > 0 THEN split_part(balance, '/', 2)
            ELSE balance END AS balance_id,
       sum(units) AS units
FROM moves GROUP BY 1, 2;
