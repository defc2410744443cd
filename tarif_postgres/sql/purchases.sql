-- What a subscription buys: purchases, the balances and services they bring, their payment
-- (admin_api/purchases.py).

-- name: lock_subscription
-- A customer's subscription with its group's account_id, locked for a change. $1 subscription id, $2 customer id
SELECT s.*, g.account_id FROM subscriptions s
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE s.id = $1 AND s.customer_id = $2 FOR UPDATE OF s;

-- name: move_services_to_purchase
-- A plan transition: service lines move to a new purchase. $1 identifiers, $2 purchase id, $3 status
UPDATE services SET purchase_id = $2, status = $3
WHERE identifier = ANY($1::text[]);

-- name: insert_purchase
-- Records one purchased product; returns its id. $1 to $20: the columns below, in their order
INSERT INTO purchases (subscription_id, origin, offer, product, quantity, value,
    currency, charge, list_price, discount, price, discounts, coupons, resource,
    granted, valid_from, valid_to, status, unit_price, discount_terms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
        $17, $18, $19, $20) RETURNING id;

-- name: name_granted_balance
-- A granting purchase's balance is `<product>-<purchase id>`. $1 purchase id
UPDATE purchases SET balance_id = product || '-' || id WHERE id = $1;

-- name: first_service_in_use
-- The first of these identifiers some service already has (NULL if none). $1 identifiers
SELECT min(identifier) FROM services WHERE identifier = ANY($1::text[]);

-- name: insert_purchase_service
-- A service line a purchase brings. $1 identifier, $2 subscription id, $3 purchase id, $4 status
INSERT INTO services (identifier, subscription_id, purchase_id, status)
VALUES ($1, $2, $3, $4);

-- name: insert_granted_balances
-- The purchases' grants become balances of their subscription's group. $1 purchase ids
INSERT INTO balances (customer_id, balance_id, resource, amount, valid_from, valid_to,
    balance_group_id)
SELECT s.customer_id, p.balance_id, p.resource, p.granted, p.valid_from, p.valid_to,
       s.balance_group_id
FROM purchases p JOIN subscriptions s ON s.id = p.subscription_id
WHERE p.id = ANY($1::bigint[]) AND p.balance_id IS NOT NULL;

-- name: activate_purchase_services
-- The purchases' services go live. $1 purchase ids
UPDATE services SET status = 'active' WHERE purchase_id = ANY($1::bigint[]);

-- name: activate_purchases
-- The purchases become active. $1 purchase ids
UPDATE purchases SET status = 'active' WHERE id = ANY($1::bigint[]);

-- name: money_balance
-- The group's money balance that pays (no end first): balance_id, amount, credit_limit. $1 group id, $2 currency
SELECT balance_id, amount, coalesce(credit_limit, 0) AS credit_limit FROM balances
WHERE balance_group_id = $1 AND resource = $2
ORDER BY valid_to IS NOT NULL, balance_id LIMIT 1;

-- name: set_purchases_payment
-- Links purchases to the adjustment that pays them. $1 purchase ids, $2 adjustment id
UPDATE purchases SET adjustment_id = $2 WHERE id = ANY($1::bigint[]);

-- name: adjustment_status
-- An adjustment's status. $1 adjustment id
SELECT status FROM balance_adjustments WHERE id = $1;

-- name: lock_pending_paid_by
-- The pending purchases an adjustment pays (id, account_id), locked. $1 adjustment id
SELECT p.id, g.account_id FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE p.adjustment_id = $1 AND p.status = 'pending' FOR UPDATE OF p;

-- name: delete_purchase_services
-- Removes the services the purchases brought. $1 purchase ids
DELETE FROM services WHERE purchase_id = ANY($1::bigint[]);

-- name: refuse_purchases
-- The purchases' payment was refused. $1 purchase ids
UPDATE purchases SET status = 'refused' WHERE id = ANY($1::bigint[]);

-- name: answered_pending_payments
-- Adjustments the engine answered whose purchases are still pending (at most 100).
SELECT DISTINCT p.adjustment_id FROM purchases p
JOIN balance_adjustments a ON a.id = p.adjustment_id
WHERE p.status = 'pending' AND a.status <> 'pending' LIMIT 100;

-- name: customer_has_subscription
-- 1 if the customer has this subscription. $1 subscription id, $2 customer id
SELECT 1 FROM subscriptions WHERE id = $1 AND customer_id = $2;

-- name: subscription_purchases
-- One page of a subscription's purchases as the API shows them, with their services, by id. $1 subscription id, $2 after this id (0 on page 1), $3 page size
SELECT p.id, p.subscription_id, p.origin, p.offer, p.product, p.quantity,
    p.value::text AS value, p.currency, p.charge, p.list_price::text AS list_price,
    p.discount::text AS discount, p.price::text AS price, p.discounts, p.coupons, p.balance_id,
    p.resource, p.granted::text AS granted, p.valid_from, p.valid_to, p.status, p.created_at,
    p.cancelled_at,
    (SELECT coalesce(array_agg(v.identifier ORDER BY v.identifier), '{}') FROM services v
      WHERE v.purchase_id = p.id) AS services
FROM purchases p WHERE p.subscription_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3;

-- name: purchase_by_id
-- One purchase as the API shows it, with its services. $1 purchase id
SELECT p.id, p.subscription_id, p.origin, p.offer, p.product, p.quantity,
    p.value::text AS value, p.currency, p.charge, p.list_price::text AS list_price,
    p.discount::text AS discount, p.price::text AS price, p.discounts, p.coupons, p.balance_id,
    p.resource, p.granted::text AS granted, p.valid_from, p.valid_to, p.status, p.created_at,
    p.cancelled_at,
    (SELECT coalesce(array_agg(v.identifier ORDER BY v.identifier), '{}') FROM services v
      WHERE v.purchase_id = p.id) AS services
FROM purchases p WHERE id = $1;

-- name: purchases_paid_by
-- The purchases an adjustment pays (id), in order. $1 adjustment id
SELECT id FROM purchases WHERE adjustment_id = $1 ORDER BY id;

-- name: purchases_of_request
-- What an earlier request bought for the subscription (id, adjustment_id, offer). $1 subscription id, $2 request id
SELECT id, adjustment_id, offer FROM purchases
WHERE subscription_id = $1 AND request_id = $2 ORDER BY id;

-- name: set_purchases_request
-- Marks purchases with the request that bought them. $1 purchase ids, $2 request id
UPDATE purchases SET request_id = $2 WHERE id = ANY($1::bigint[]);

-- name: lock_purchase
-- A customer's purchase with account_id and customer_id, locked. $1 purchase id, $2 subscription id, $3 customer id
SELECT p.*, g.account_id, s.customer_id FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE p.id = $1 AND s.id = $2 AND s.customer_id = $3 FOR UPDATE OF p;

-- name: update_purchase_terms
-- A purchase's new terms, priced again (tarif_catalog.pricing.price_line). $1 purchase id, $2 quantity, $3 value, $4 granted, $5 list price, $6 discount, $7 price, $8 discounts (breakdown), $9 valid to
UPDATE purchases SET quantity = $2, value = $3, granted = $4, list_price = $5,
    discount = $6, price = $7, discounts = $8, valid_to = $9
WHERE id = $1;

-- name: set_balance_end
-- A customer's balance gets a new end. $1 customer id, $2 balance id, $3 valid to
UPDATE balances SET valid_to = $3
WHERE customer_id = $1 AND balance_id = $2;

-- name: cancel_purchase
-- A purchase is cancelled now. $1 purchase id
UPDATE purchases SET status = 'cancelled', cancelled_at = now() WHERE id = $1;

-- name: delete_services_of_purchase
-- Removes the services one purchase brought. $1 purchase id
DELETE FROM services WHERE purchase_id = $1;
