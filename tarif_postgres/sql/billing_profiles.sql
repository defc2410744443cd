-- Billing profiles (admin_api/billing_profiles.py), the first one made at onboarding, and the
-- profile a balance group or a hierarchy bills to.

-- name: profiles_of_customer
-- One page of a customer's billing profiles, oldest first. $1 customer id, $2 after this id (0 on page 1), $3 page size
SELECT id, customer_id, name, payment_type, currency, billing_interval AS interval,
    billing_day, anchor_month, time_zone, valid_from, valid_to, tax, payment_terms_days,
    pending_total::text AS pending_total,
    credit_balance::text AS credit_balance, created_at, updated_at
FROM billing_profiles WHERE customer_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: billing_profile_by_id
-- One billing profile as the API shows it. $1 profile id
SELECT id, customer_id, name, payment_type, currency, billing_interval AS interval,
    billing_day, anchor_month, time_zone, valid_from, valid_to, tax, payment_terms_days,
    pending_total::text AS pending_total,
    credit_balance::text AS credit_balance, created_at, updated_at
FROM billing_profiles WHERE id = $1;

-- name: lock_billing_profile
-- One profile of a customer as the API shows it, locked until the transaction ends. $1 profile id, $2 customer id
SELECT id, customer_id, name, payment_type, currency, billing_interval AS interval,
    billing_day, anchor_month, time_zone, valid_from, valid_to, tax, payment_terms_days,
    pending_total::text AS pending_total,
    credit_balance::text AS credit_balance, created_at, updated_at
FROM billing_profiles WHERE id = $1 AND customer_id = $2 FOR UPDATE;

-- name: insert_billing_profile
-- A new named profile; its id. $1 customer id, $2 name, $3 payment type, $4 currency, $5 interval, $6 billing day, $7 anchor month, $8 time zone, $9 valid from, $10 valid to, $11 tax, $12 payment terms (days)
INSERT INTO billing_profiles (customer_id, name, payment_type, currency,
    billing_interval, billing_day, anchor_month, time_zone, valid_from, valid_to, tax,
    payment_terms_days)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id;

-- name: insert_first_billing_profile
-- The profile onboarding makes (default name and validity); its id. $1 customer id, $2 payment type, $3 currency, $4 interval, $5 billing day, $6 anchor month, $7 time zone
INSERT INTO billing_profiles (customer_id, payment_type, currency,
    billing_interval, billing_day, anchor_month, time_zone)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id;

-- name: update_billing_profile
-- Changes a profile's cycle rule, validity, tax and payment terms. $1 profile id, $2 interval, $3 billing day, $4 anchor month, $5 time zone, $6 valid from, $7 valid to, $8 tax, $9 payment terms (days)
UPDATE billing_profiles SET billing_interval = $2, billing_day = $3, anchor_month = $4,
    time_zone = $5, valid_from = $6, valid_to = $7, tax = $8, payment_terms_days = $9,
    updated_at = now() WHERE id = $1;

-- name: group_cycle
-- The cycle rule of a balance group's billing profile (no row: the group has none). $1 group id
SELECT p.id, p.billing_interval, p.billing_day, p.anchor_month, p.time_zone
FROM balance_groups g JOIN billing_profiles p ON p.id = g.billing_profile_id
WHERE g.id = $1;

-- name: profile_or_first
-- The customer's profile of that id, or its first when the id is null; no row if it has none. $1 customer id, $2 profile id or null
SELECT id FROM billing_profiles WHERE customer_id = $1 AND ($2::bigint IS NULL
    OR id = $2) ORDER BY id LIMIT 1;
