-- What a subscription buys: purchases, the balances and services they bring, their payment
-- (tarif_billing/purchasing.py, admin_api/purchases.py), their renewals (tarif_billing/renewals.py,
-- the purchase-check job) and deferred activation (tarif_billing/activation.py).

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
-- Records one purchased product; returns its id. $1 to $25: the columns below, in their order
INSERT INTO purchases (subscription_id, origin, offer, product, quantity, value,
    currency, charge, list_price, discount, price, discounts, coupons, resource,
    granted, valid_from, valid_to, status, unit_price, discount_terms, created_at, starts_at,
    period_start, period_end, waives_connect_fee)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
        $17, $18, $19, $20, $21, $22, $23, $24, $25) RETURNING id;

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
    balance_group_id, purchase_id)
SELECT s.customer_id, p.balance_id, p.resource, p.granted, p.valid_from, p.valid_to,
       s.balance_group_id, p.id
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
    p.cancelled_at, p.starts_at, p.ends_at, p.period_start, p.period_end, p.cycles,
    (SELECT coalesce(array_agg(v.identifier ORDER BY v.identifier), '{}') FROM services v
      WHERE v.purchase_id = p.id) AS services
FROM purchases p WHERE p.subscription_id = $1 AND p.id > $2 ORDER BY p.id LIMIT $3;

-- name: purchase_by_id
-- One purchase as the API shows it, with its services. $1 purchase id
SELECT p.id, p.subscription_id, p.origin, p.offer, p.product, p.quantity,
    p.value::text AS value, p.currency, p.charge, p.list_price::text AS list_price,
    p.discount::text AS discount, p.price::text AS price, p.discounts, p.coupons, p.balance_id,
    p.resource, p.granted::text AS granted, p.valid_from, p.valid_to, p.status, p.created_at,
    p.cancelled_at, p.starts_at, p.ends_at, p.period_start, p.period_end, p.cycles,
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
-- A purchase's new terms, priced again (tarif_catalog.pricing.price_line). $1 purchase id, $2 quantity, $3 value, $4 granted, $5 list price, $6 discount, $7 price, $8 discounts (breakdown), $9 valid to, $10 unit price
UPDATE purchases SET quantity = $2, value = $3, granted = $4, list_price = $5,
    discount = $6, price = $7, discounts = $8, valid_to = $9, unit_price = $10
WHERE id = $1;

-- name: set_balance_end
-- A customer's balance gets a new end. $1 customer id, $2 balance id, $3 valid to
UPDATE balances SET valid_to = $3
WHERE customer_id = $1 AND balance_id = $2;

-- name: cancel_purchase
-- A purchase is cancelled as of a time. $1 purchase id, $2 cancelled at
UPDATE purchases SET status = 'cancelled', cancelled_at = $2 WHERE id = $1;

-- name: delete_services_of_purchase
-- Removes the services one purchase brought. $1 purchase id
DELETE FROM services WHERE purchase_id = $1;

-- name: coupon_cycles
-- How many cycles each coupon's discount lasts (0: always). $1 codes
SELECT code, cycles FROM coupons WHERE code = ANY($1::text[]);

-- Renewals and ends (the purchase-check job) ------------------------------------------------

-- name: purchases_to_check
-- Purchases the purchase check must look at by a time, of the customers the criteria select (id), by id: those of a cancelled subscription, those whose end has come, recurring ones whose cycle ended (or was never recorded), suspended ones (their renewal is tried again). $1 at, $2 after this id, $3 at most, $4 only these ids (NULL: any), $5...: the criteria's values
SELECT p.id FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN customers c ON c.id = s.customer_id
WHERE p.status IN ('active', 'suspended') AND p.id > $2
  AND ($4::bigint[] IS NULL OR p.id = ANY($4::bigint[]))
  AND (s.status = 'cancelled'
       OR (c.status = 'active'
           AND ((p.ends_at IS NOT NULL AND p.ends_at <= $1)
                OR p.status = 'suspended'
                OR (p.charge = 'recurring' AND (p.period_end IS NULL OR p.period_end <= $1)))))
  AND {where}
ORDER BY p.id LIMIT $3;

-- name: lock_purchase_to_check
-- One active or suspended purchase with what its check needs (its subscription's status, cancellation, payment type and group, the group's account, the customer's status), locked; none when another worker holds it. $1 purchase id
SELECT p.*, g.account_id, s.customer_id, s.status AS subscription_status,
       s.cancelled_at AS subscription_cancelled_at, s.payment_type, s.balance_group_id,
       c.status AS customer_status
FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
JOIN customers c ON c.id = s.customer_id
WHERE p.id = $1 AND p.status IN ('active', 'suspended')
FOR UPDATE OF p SKIP LOCKED;

-- name: set_purchase_period
-- Records a recurring purchase's cycle in progress. $1 purchase id, $2 period start, $3 period end
UPDATE purchases SET period_start = $2, period_end = $3 WHERE id = $1;

-- name: open_renewal
-- A purchase's renewal still waiting for its payment (pending or unpaid), if any. $1 purchase id
SELECT * FROM purchase_renewals WHERE purchase_id = $1 AND status IN ('pending', 'unpaid')
ORDER BY period_start DESC LIMIT 1;

-- name: insert_renewal
-- A cycle's renewal, once per purchase and cycle start; returns its row (none when it exists). $1 purchase id, $2 period start, $3 period end, $4 cycle, $5 amount, $6 discounts, $7 paid by, $8 status
INSERT INTO purchase_renewals (purchase_id, period_start, period_end, cycle, amount, discounts,
                               paid_by, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (purchase_id, period_start) DO NOTHING
RETURNING *;

-- name: renewal_payment_asked
-- A renewal's payment attempt is asked. $1 renewal id, $2 adjustment id
UPDATE purchase_renewals SET status = 'pending', adjustment_id = $2, attempts = attempts + 1,
    updated_at = now()
WHERE id = $1;

-- name: close_renewal
-- A renewal's outcome. $1 renewal id, $2 status, $3 error
UPDATE purchase_renewals SET status = $2, error = $3, updated_at = now() WHERE id = $1;

-- name: renewal_by_id
-- One renewal. $1 renewal id
SELECT * FROM purchase_renewals WHERE id = $1;

-- name: lock_renewing_purchase
-- The purchase a renewal renews, with its group's account and its customer, locked. $1 purchase id
SELECT p.*, g.account_id, s.customer_id, s.payment_type, s.balance_group_id
FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE p.id = $1 FOR UPDATE OF p;

-- name: insert_renewed_grant
-- A renewed cycle's grant: a balance of its own (once). $1 customer id, $2 balance id, $3 resource, $4 amount, $5 valid from, $6 valid to, $7 group id, $8 purchase id
INSERT INTO balances (customer_id, balance_id, resource, amount, valid_from, valid_to,
                      balance_group_id, purchase_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (customer_id, balance_id) DO NOTHING;

-- name: delete_ended_grants
-- A purchase's grants that ended by a time, but the one it holds now. $1 purchase id, $2 at, $3 the balance it holds
DELETE FROM balances WHERE purchase_id = $1 AND valid_to IS NOT NULL AND valid_to <= $2
    AND balance_id <> $3;

-- name: renew_purchase
-- A purchase enters its renewed cycle (active again if it was suspended). $1 purchase id, $2 period start, $3 period end, $4 cycles, $5 balance id, $6 valid from, $7 valid to
UPDATE purchases SET period_start = $2, period_end = $3, cycles = $4, status = 'active',
    balance_id = coalesce($5, balance_id), valid_from = coalesce($6, valid_from),
    valid_to = CASE WHEN $5::text IS NULL THEN valid_to ELSE $7 END
WHERE id = $1;

-- name: suspend_purchase
-- A purchase whose renewal is unpaid is suspended, its services with it. $1 purchase id
WITH p AS (UPDATE purchases SET status = 'suspended' WHERE id = $1 RETURNING id)
UPDATE services SET status = 'suspended' WHERE purchase_id IN (SELECT id FROM p);

-- name: adjustment_result
-- An adjustment's status and the engine's result. $1 adjustment id
SELECT status, result FROM balance_adjustments WHERE id = $1;

-- Deferred purchases (the deferred-activation job) ------------------------------------------

-- name: purchases_to_activate
-- Deferred purchases whose start came by a time, of the customers the criteria select (id), by id: scheduled ones, and pending ones whose payment a crash left unfinished. $1 at, $2 after this id, $3 at most, $4 only these ids (NULL: any), $5...: the criteria's values
SELECT p.id FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN customers c ON c.id = s.customer_id
WHERE p.status IN ('scheduled', 'pending') AND p.starts_at IS NOT NULL AND p.starts_at <= $1
  AND p.id > $2 AND ($4::bigint[] IS NULL OR p.id = ANY($4::bigint[]))
  AND {where}
ORDER BY p.id LIMIT $3;

-- name: lock_purchase_to_activate
-- One deferred purchase whose start came by a time, with its subscription's status, payment type and group and the group's account, locked; none when another worker holds it. $1 purchase id, $2 at
SELECT p.*, g.account_id, s.customer_id, s.status AS subscription_status,
       s.cancelled_at AS subscription_cancelled_at, s.payment_type, s.balance_group_id, s.plan
FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE p.id = $1 AND p.status IN ('scheduled', 'pending') AND p.starts_at IS NOT NULL
  AND p.starts_at <= $2
FOR UPDATE OF p SKIP LOCKED;

-- name: mark_purchase_pending
-- A deferred purchase waits for its payment. $1 purchase id
UPDATE purchases SET status = 'pending' WHERE id = $1;
