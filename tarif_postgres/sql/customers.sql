-- Customers: onboarding, listing and search, details, changes (admin_api/customers.py), and the
-- customer checks other admin modules make before they change what a customer holds.

-- name: customer_type_and_attributes
-- Whether the customer type exists (known) and the declared custom attributes as JSON (declared: name, type, required). $1 customer type or null
SELECT EXISTS (SELECT 1 FROM customer_types WHERE name = $1) AS known,
       (SELECT coalesce(json_agg(json_build_object('name', name, 'type', type,
                                                   'required', required)), '[]')
        FROM custom_attributes) AS declared;

-- name: next_customer_id
-- A new customer id (the sequence's next value).
SELECT nextval('customers_id_seq');

-- name: insert_customer
-- A new customer. $1 id, $2 account id, $3 customer type, $4 first name, $5 last name, $6 e-mail, $7 phone, $8 organisation, $9 address, $10 city, $11 state, $12 postcode, $13 country, $14 custom attributes, $15 payment method, $16 payment info
INSERT INTO customers (id, account_id, customer_type, first_name, last_name,
    email, phone, organisation, address, city, state, postcode, country,
    custom_attributes, payment_method, payment_info)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
        $16);

-- name: customers_page
-- One page of customers with their counts of subscriptions and services (cancelled subscriptions and their services left out), and sort_key. Slots: {where} and {order} from the listing's whitelist (admin_api/paging.py; values are bind parameters), {sort_key} the chosen sort's expression, {limit} the page size (an int)
SELECT c.id, c.account_id, c.full_name, c.email, c.city, c.country, c.status,
    c.customer_type, c.payment_method, c.created_at,
    (SELECT count(*) FROM subscriptions s WHERE s.customer_id = c.id
      AND s.status <> 'cancelled') AS subscriptions,
    (SELECT count(*) FROM services v JOIN subscriptions s ON s.id = v.subscription_id
      WHERE s.customer_id = c.id AND s.status <> 'cancelled') AS services,
    {sort_key} AS sort_key
FROM customers c
WHERE {where} ORDER BY {order} LIMIT {limit};

-- name: filter_by_account
-- A listing condition for {where} (customers c): one of the customer's balance groups is this engine account. {} the account id, bound by paging.Select.where
EXISTS (SELECT 1 FROM balance_groups g WHERE g.customer_id = c.id AND g.account_id = {})

-- name: filter_by_service
-- A listing condition for {where} (customers c): one of the customer's subscriptions, cancelled ones too, has this service identifier (an MSISDN). {} the identifier, bound by paging.Select.where
EXISTS (SELECT 1 FROM services v JOIN subscriptions s ON s.id = v.subscription_id
        WHERE s.customer_id = c.id AND v.identifier = {})

-- name: customers_export
-- Every matching customer, the columns of the CSV export. Slots: {where} and {order} from the listing's whitelist (admin_api/paging.py; values are bind parameters)
SELECT c.id, c.account_id, c.status, c.customer_type, c.first_name, c.last_name, c.email,
    c.phone, c.organisation, c.address, c.city, c.state, c.postcode, c.country,
    c.payment_method, c.created_at
FROM customers c WHERE {where} ORDER BY {order};

-- name: customers_export_with_holdings
-- The CSV export's columns and what each customer holds: subscriptions (the plans of its active subscriptions, oldest first, joined by "; ") and services (its services in use, joined by "; ": active, on an active subscription, within their validity). Slots: {where} and {order} as customers_export
SELECT c.id, c.account_id, c.status, c.customer_type, c.first_name, c.last_name, c.email,
    c.phone, c.organisation, c.address, c.city, c.state, c.postcode, c.country,
    c.payment_method, c.created_at,
    (SELECT coalesce(string_agg(s.plan, '; ' ORDER BY s.id), '') FROM subscriptions s
      WHERE s.customer_id = c.id AND s.status = 'active') AS subscriptions,
    (SELECT coalesce(string_agg(v.identifier, '; ' ORDER BY v.identifier), '')
      FROM services v JOIN subscriptions s ON s.id = v.subscription_id
      WHERE s.customer_id = c.id AND s.status = 'active' AND v.status = 'active'
        AND (v.valid_from IS NULL OR v.valid_from <= now())
        AND (v.valid_to IS NULL OR v.valid_to > now())) AS services
FROM customers c WHERE {where} ORDER BY {order};

-- name: customer_detail
-- One customer with its subscriptions (the cycle and profile of each: its balance group's), balances, balance groups and contacts (JSON), and whether the engine has yet to see a change (pending). $1 customer id
SELECT c.*,
  (SELECT coalesce(json_agg(json_build_object(
       'id', s.id, 'plan', s.plan, 'payment_type', s.payment_type, 'currency', s.currency,
       'interval', p.billing_interval, 'billing_day', p.billing_day, 'status', s.status,
       'credit_profile', s.credit_profile, 'credit_limit', s.credit_limit::text,
       'created_at', s.created_at, 'cancelled_at', s.cancelled_at,
       'billing_profile_id', g.billing_profile_id, 'balance_group', g.name,
       'services', (SELECT coalesce(json_agg(v.identifier ORDER BY v.identifier), '[]')
                    FROM services v WHERE v.subscription_id = s.id)) ORDER BY s.id), '[]')
   FROM subscriptions s JOIN balance_groups g ON g.id = s.balance_group_id
   LEFT JOIN billing_profiles p ON p.id = g.billing_profile_id
   WHERE s.customer_id = c.id) AS subscriptions,
  (SELECT coalesce(json_agg(json_build_object(
       'id', b.balance_id, 'resource', b.resource, 'amount', b.amount::text,
       'valid_from', b.valid_from, 'valid_to', b.valid_to, 'priority', b.priority,
       'credit_limit', b.credit_limit::text,
       'balance_group', (SELECT g.name FROM balance_groups g WHERE g.id = b.balance_group_id))
       ORDER BY b.balance_id), '[]')
   FROM balances b WHERE b.customer_id = c.id) AS balances,
  (SELECT coalesce(json_agg(json_build_object(
       'name', g.name, 'account_id', g.account_id, 'billing_profile_id', g.billing_profile_id,
       'valid_from', g.valid_from, 'valid_to', g.valid_to) ORDER BY g.id), '[]')
   FROM balance_groups g WHERE g.customer_id = c.id) AS balance_groups,
  (SELECT coalesce(json_agg(json_strip_nulls(json_build_object(
       'tag', a.tag, 'email', a.email, 'phone', a.phone, 'first_name', a.first_name,
       'last_name', a.last_name, 'organisation', a.organisation,
       'address_lines', a.address_lines, 'city', a.city, 'postcode', a.postcode,
       'country', a.country)) ORDER BY a.tag), '[]')
   FROM account_contacts a WHERE a.account_id = c.account_id) AS contacts,
  EXISTS (SELECT 1 FROM outbox o JOIN balance_groups g ON g.account_id = o.key
          WHERE g.customer_id = c.id AND o.kind = 'account' AND o.applied_at IS NULL) AS pending
FROM customers c WHERE c.id = $1;

-- name: lock_customer
-- One customer, all columns, locked until the transaction ends. $1 customer id
SELECT * FROM customers WHERE id = $1 FOR UPDATE;

-- name: update_customer
-- Changes a customer's account fields. $1 customer id, then the values the slot binds. Slot {assignments}: `column = $n` pairs whose columns are AccountPatch's fields (code, not input)
UPDATE customers SET {assignments}, updated_at = now() WHERE id = $1;

-- name: close_customer
-- Closes a customer, to be deleted after its retention. $1 customer id, $2 closed at, $3 delete after
UPDATE customers SET status = 'closed', closed_at = $2, delete_after = $3,
    updated_at = now() WHERE id = $1;

-- name: customer_account_id
-- A customer's engine account id (its first balance group's). $1 customer id
SELECT account_id FROM customers WHERE id = $1;

-- name: customer_accounts
-- The engine accounts of a customer's balance groups, first group first (an array; no row: no customer). $1 customer id
SELECT array_agg(g.account_id ORDER BY g.id) FROM customers c
LEFT JOIN balance_groups g ON g.customer_id = c.id WHERE c.id = $1 GROUP BY c.id;

-- name: customer_exists
-- 1 if the customer exists, else no row. $1 customer id
SELECT 1 FROM customers WHERE id = $1;

-- name: customer_status
-- A customer's id, account id and status. $1 customer id
SELECT id, account_id, status FROM customers WHERE id = $1;

-- name: lock_customer_status
-- A customer's account id and status, locked until the transaction ends. $1 customer id
SELECT account_id, status FROM customers WHERE id = $1 FOR UPDATE;
