-- Subscriptions: opening, plan transitions, cancellation, payment (admin_api/subscriptions.py,
-- tarif_billing/plans.py and the plan-transition job).

-- name: other_payment_type
-- The payment type of an active subscription of the group that differs from this one, if any. $1 group id, $2 payment type
SELECT payment_type FROM subscriptions WHERE balance_group_id = $1
    AND status = 'active' AND payment_type <> $2 LIMIT 1;

-- name: services_in_use
-- Those of these identifiers that some service already has. $1 identifiers
SELECT identifier FROM services WHERE identifier = ANY($1::text[]);

-- name: insert_subscription
-- A new subscription in a balance group (billed on the cycle of the group's profile); returns its id. $1 customer id, $2 plan, $3 payment type, $4 currency, $5 credit profile, $6 credit limit, $7 group id
INSERT INTO subscriptions (customer_id, plan, payment_type, currency, credit_profile,
    credit_limit, balance_group_id)
VALUES ($1, $2, $3, $4, $5, $6::numeric, $7) RETURNING id;

-- name: insert_subscription_service
-- A service of the subscription itself (no purchase). $1 identifier, $2 subscription id
INSERT INTO services (identifier, subscription_id) VALUES ($1, $2);

-- name: insert_balance
-- A provisioned balance of a group. $1 customer id, $2 balance id, $3 resource, $4 amount, $5 valid from, $6 valid to, $7 priority, $8 credit limit, $9 group id
INSERT INTO balances (customer_id, balance_id, resource, amount, valid_from,
    valid_to, priority, credit_limit, balance_group_id)
VALUES ($1, $2, $3, $4::numeric, $5, $6, $7, $8::numeric, $9);

-- name: balance_group_for
-- The customer's group of that name, or its first one (id, account_id, billing_profile_id). $1 customer id, $2 name or NULL
SELECT id, account_id, billing_profile_id FROM balance_groups
WHERE customer_id = $1 AND ($2::text IS NULL OR name = $2) ORDER BY id LIMIT 1;

-- name: schedule_transition
-- A plan transition for later; returns its id. $1 subscription id, $2 plan, $3 effective at, $4 requested by
INSERT INTO plan_transitions (subscription_id, plan, effective_at, requested_by)
VALUES ($1, $2, $3, $4) RETURNING id;

-- name: has_pending_purchase
-- 1 if a purchase of the subscription waits for its payment. $1 subscription id
SELECT 1 FROM purchases WHERE subscription_id = $1 AND status = 'pending';

-- name: set_plan
-- The subscription's new plan. $1 subscription id, $2 plan
UPDATE subscriptions SET plan = $2 WHERE id = $1;

-- name: cancel_plan_purchases
-- Cancels the purchases of the subscription's plan (active, suspended or not started) as of a time (NULL: now); returns (id, product). $1 subscription id, $2 cancelled at
UPDATE purchases SET status = 'cancelled', cancelled_at = coalesce($2, now())
WHERE subscription_id = $1 AND origin = 'plan'
  AND status IN ('active', 'suspended', 'scheduled')
RETURNING id, product;

-- name: detach_services
-- A purchase's services stay without it; returns their identifiers. $1 purchase id
UPDATE services SET purchase_id = NULL WHERE purchase_id = $1 RETURNING identifier;

-- name: services_without_purchase
-- The subscription's services no purchase brought (identifier). $1 subscription id
SELECT identifier FROM services WHERE subscription_id = $1 AND purchase_id IS NULL;

-- name: due_transitions
-- Scheduled transitions due by a time, of the customers the criteria select (id), by id. $1 at, $2 after this id, $3 at most, $4 only these ids (NULL: any), $5...: the criteria's values
SELECT t.id FROM plan_transitions t
JOIN subscriptions s ON s.id = t.subscription_id
JOIN customers c ON c.id = s.customer_id
WHERE t.status = 'scheduled' AND t.effective_at <= $1 AND t.id > $2
  AND ($4::bigint[] IS NULL OR t.id = ANY($4::bigint[]))
  AND {where}
ORDER BY t.id LIMIT $3;

-- name: lock_due_transition
-- One scheduled transition if it is due by a time (id, subscription_id, plan, effective_at), locked; none when another worker holds it. $1 transition id, $2 at
SELECT id, subscription_id, plan, effective_at FROM plan_transitions
WHERE id = $1 AND status = 'scheduled' AND effective_at <= $2
FOR UPDATE SKIP LOCKED;

-- name: lock_subscription
-- A subscription with its group's account_id, locked. $1 subscription id
SELECT s.*, g.account_id FROM subscriptions s
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE s.id = $1 FOR UPDATE OF s;

-- name: close_transition
-- A transition's outcome as of a time. $1 transition id, $2 status, $3 reason, $4 done at
UPDATE plan_transitions SET status = $2, reason = $3, done_at = $4
WHERE id = $1;

-- name: customer_transitions
-- One page of the plan transitions of a customer's subscriptions, by id. $1 customer id, $2 after this id (0 on page 1), $3 page size
SELECT t.id, t.subscription_id, t.plan, t.effective_at, t.status, t.reason,
       t.requested_by, t.requested_at, t.done_at
FROM plan_transitions t JOIN subscriptions s ON s.id = t.subscription_id
WHERE s.customer_id = $1 AND t.id > $2 ORDER BY t.id LIMIT $3;

-- name: cancel_subscription
-- A subscription is cancelled now. $1 subscription id
UPDATE subscriptions SET status = 'cancelled', cancelled_at = now() WHERE id = $1;

-- name: cancel_scheduled_transitions
-- The subscription's scheduled transitions are cancelled. $1 subscription id
UPDATE plan_transitions SET status = 'cancelled' WHERE subscription_id = $1
    AND status = 'scheduled';

-- name: lock_customer_payment
-- A customer's payment method and info, the customer locked. $1 customer id
SELECT payment_method, payment_info FROM customers WHERE id = $1 FOR UPDATE;

-- name: set_customer_payment
-- A customer's new payment method and info. $1 customer id, $2 method, $3 info
UPDATE customers SET payment_method = $2, payment_info = $3, updated_at = now()
WHERE id = $1;

-- name: subscription_account
-- The engine account of the subscription's balance group. $1 subscription id
SELECT g.account_id FROM subscriptions s
JOIN balance_groups g ON g.id = s.balance_group_id WHERE s.id = $1;
