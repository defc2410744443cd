-- Balance groups, each one engine account (admin_api/balance_groups.py).

-- name: balance_group_by_name_or_first
-- The customer's group of that name, or its first when the name is null: id, account_id, name. $1 customer id, $2 group name or null
SELECT id, account_id, name FROM balance_groups WHERE customer_id = $1
    AND ($2::text IS NULL OR name = $2) ORDER BY id LIMIT 1;

-- name: balance_groups_of_customer
-- One page of a customer's groups as the API shows them (with counts of active subscriptions and of balances), oldest first. $1 customer id, $2 after this id (0 on page 1), $3 page size
SELECT g.id, g.name, g.account_id, g.billing_profile_id, g.valid_from, g.valid_to,
    g.created_at,
    (SELECT count(*) FROM subscriptions s WHERE s.balance_group_id = g.id
        AND s.status = 'active') AS subscriptions,
    (SELECT count(*) FROM balances b WHERE b.balance_group_id = g.id) AS balances
FROM balance_groups g WHERE g.customer_id = $1 AND g.id > $2 ORDER BY g.id LIMIT $3;

-- name: balance_group_by_id
-- One group as the API shows it. $1 group id
SELECT g.id, g.name, g.account_id, g.billing_profile_id, g.valid_from, g.valid_to,
    g.created_at,
    (SELECT count(*) FROM subscriptions s WHERE s.balance_group_id = g.id
        AND s.status = 'active') AS subscriptions,
    (SELECT count(*) FROM balances b WHERE b.balance_group_id = g.id) AS balances
FROM balance_groups g WHERE id = $1;

-- name: lock_balance_group
-- A customer's group of that name as the API shows it, locked until the transaction ends. $1 customer id, $2 group name
SELECT g.id, g.name, g.account_id, g.billing_profile_id, g.valid_from, g.valid_to,
    g.created_at,
    (SELECT count(*) FROM subscriptions s WHERE s.balance_group_id = g.id
        AND s.status = 'active') AS subscriptions,
    (SELECT count(*) FROM balances b WHERE b.balance_group_id = g.id) AS balances
FROM balance_groups g WHERE g.customer_id = $1 AND g.name = $2
FOR UPDATE;

-- name: insert_balance_group
-- A new group; its id. $1 customer id, $2 name, $3 engine account id, $4 billing profile id, $5 valid from, $6 valid to
INSERT INTO balance_groups (customer_id, name, account_id, billing_profile_id,
    valid_from, valid_to) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id;

-- name: update_balance_group
-- Changes a group's billing profile and validity. $1 group id, $2 billing profile id, $3 valid from, $4 valid to
UPDATE balance_groups SET billing_profile_id = $2, valid_from = $3, valid_to = $4
WHERE id = $1;
