-- Service identifiers after onboarding (admin_api/services.py).

-- name: customer_services
-- One page of a customer's services as the API shows them, by identifier. $1 customer id, $2 after this identifier ('' on page 1), $3 page size (null: all)
SELECT v.identifier, v.subscription_id, v.status, v.valid_from, v.valid_to, v.devices,
    v.created_at
FROM services v JOIN subscriptions s ON s.id = v.subscription_id
WHERE s.customer_id = $1 AND v.identifier > $2 ORDER BY v.identifier LIMIT $3;

-- name: subscription_status_and_account
-- A customer's subscription's status and its group's account_id. $1 subscription id, $2 customer id
SELECT s.status, g.account_id FROM subscriptions s JOIN balance_groups g
    ON g.id = s.balance_group_id WHERE s.id = $1 AND s.customer_id = $2;

-- name: insert_service
-- A service added to a subscription. $1 identifier, $2 subscription id, $3 valid from, $4 valid to, $5 devices
INSERT INTO services (identifier, subscription_id, valid_from, valid_to,
    devices) VALUES ($1, $2, $3, $4, $5);

-- name: lock_customer_service
-- A customer's service as the API shows it, with its group's account_id, locked. $1 identifier, $2 customer id
SELECT v.identifier, v.subscription_id, v.status, v.valid_from, v.valid_to, v.devices,
    v.created_at, g.account_id
FROM services v
JOIN subscriptions s ON s.id = v.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE v.identifier = $1 AND s.customer_id = $2 FOR UPDATE OF v;

-- name: update_service
-- A service's new identifier, status, validity and devices. $1 identifier, $2 new identifier, $3 status, $4 valid from, $5 valid to, $6 devices
UPDATE services SET identifier = $2, status = $3, valid_from = $4, valid_to = $5,
    devices = $6 WHERE identifier = $1;

-- name: delete_service
-- Removes a service. $1 identifier
DELETE FROM services WHERE identifier = $1;

-- name: accounts_crossing_validity
-- Accounts (account_id) with a service or group whose validity began or ended in (since, now]. $1 since
SELECT DISTINCT g.account_id FROM services v
JOIN subscriptions s ON s.id = v.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE (v.valid_from > $1 AND v.valid_from <= now())
   OR (v.valid_to > $1 AND v.valid_to <= now())
UNION
SELECT account_id FROM balance_groups
WHERE (valid_from > $1 AND valid_from <= now())
   OR (valid_to > $1 AND valid_to <= now());
