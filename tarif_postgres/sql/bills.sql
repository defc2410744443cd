-- Bills and their items: opening cycles, billing runs, bill now (tarif_billing/runs.py).

-- name: profiles_without_bills
-- Billing profiles with no active bill yet, with their cycle rule, in id order after $3. $1 profile ids (NULL: all), $2 limit, $3 after this profile id
SELECT p.id, p.customer_id, p.currency, p.billing_interval, p.billing_day, p.time_zone,
       p.anchor_month, coalesce(p.valid_from, p.created_at) AS opened_at
FROM billing_profiles p
WHERE ($1::bigint[] IS NULL OR p.id = ANY($1::bigint[])) AND p.id > $3
  AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.billing_profile_id = p.id AND b.status = 'active')
ORDER BY p.id LIMIT $2;

-- name: insert_bills
-- New bills (a profile's first active one, the next inactive ones); one that exists is skipped. $1 profile ids, $2 customer ids, $3 statuses, $4 currencies, $5 period starts, $6 period ends, $7 kinds
INSERT INTO bills (billing_profile_id, customer_id, status, currency, period_start, period_end,
                   kind)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::timestamptz[], $7::text[])
ON CONFLICT DO NOTHING
RETURNING id, billing_profile_id, status;

-- name: take_due_bills
-- Active bills whose cycle ended by $1, locked with their profile; others' locked ones are skipped. {customers}: TRUE, or of_customers (a job's criteria, bound from $4). $1 process-now time, $2 profile ids (NULL: any), $3 how many
SELECT b.id, b.billing_profile_id, b.customer_id, b.currency, b.period_start, b.period_end,
       p.payment_type, p.billing_interval, p.billing_day, p.time_zone, p.anchor_month, p.tax,
       p.payment_terms_days, p.usage_until, p.usage_snapshot::text AS usage_snapshot,
       p.credit_balance, n.id AS next_id, n.period_end AS next_end
FROM bills b
JOIN billing_profiles p ON p.id = b.billing_profile_id
LEFT JOIN bills n ON n.billing_profile_id = b.billing_profile_id AND n.status = 'inactive'
WHERE b.status = 'active' AND b.period_end <= $1
  AND ($2::bigint[] IS NULL OR b.billing_profile_id = ANY($2::bigint[]))
  AND {customers}
ORDER BY b.period_end, b.id
LIMIT $3
FOR UPDATE OF b, p SKIP LOCKED;

-- name: count_due_bills
-- How many active bills ended by $1 (a billing job's total). {customers} as in take_due_bills, bound from $3. $1 process-now time, $2 profile ids (NULL: any)
SELECT count(*) FROM bills b
WHERE b.status = 'active' AND b.period_end <= $1
  AND ($2::bigint[] IS NULL OR b.billing_profile_id = ANY($2::bigint[]))
  AND {customers};

-- name: of_customers
-- The {customers} condition of a bill `b` whose customer `c` matches a job's criteria ({criteria}: tarif_jobs.criteria.Criteria.where on alias c).
EXISTS (SELECT 1 FROM customers c WHERE c.id = b.customer_id AND {criteria})

-- name: failed_invoice_profiles
-- The profiles of those of invoices $1 that are still failed (a billing job's retry makes them again). $1 invoice ids
SELECT DISTINCT billing_profile_id FROM invoices
WHERE id = ANY($1::bigint[]) AND status = 'failed'
ORDER BY billing_profile_id;

-- name: lock_active_bill
-- A profile's active bill, locked with the profile (bill now, preview). $1 profile id
SELECT b.id, b.billing_profile_id, b.customer_id, b.currency, b.period_start, b.period_end,
       p.payment_type, p.billing_interval, p.billing_day, p.time_zone, p.anchor_month, p.tax,
       p.payment_terms_days, p.usage_until, p.usage_snapshot::text AS usage_snapshot,
       p.credit_balance, n.id AS next_id, n.period_end AS next_end
FROM bills b
JOIN billing_profiles p ON p.id = b.billing_profile_id
LEFT JOIN bills n ON n.billing_profile_id = b.billing_profile_id AND n.status = 'inactive'
WHERE b.status = 'active' AND b.billing_profile_id = $1
FOR UPDATE OF b, p;

-- name: current_snapshot
-- What this statement sees: rated records stored by transactions it sees go on the bills made now.
SELECT pg_current_snapshot()::text;

-- name: take_usage
-- Usage items of the bills: rated records of the profiles' balance groups visible in snapshot $7, with event time before the bill's limit and not on an earlier bill (event time from the last limit on; or earlier but not seen by the last bill's snapshot), leaving out records a usage bill collected (products invoiced on usage: docs/jobs-invoicing.md). $1 bill ids, $2 profile ids, $3 last limits (NULL: none), $4 last snapshots, $5 limits, $6 informational (prepaid), $7 snapshot, $8 lowest xmin of the last snapshots, $9 decimals per bill
WITH run AS (
    SELECT r.*, g.id AS group_id, g.account_id
    FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[], $5::timestamptz[],
                $6::boolean[], $9::int[])
         AS r(bill_id, profile_id, since, since_snapshot, until, informational, decimals)
    JOIN balance_groups g ON g.billing_profile_id = r.profile_id
), taken AS (
    -- per account, an index range of its records (never a scan of the whole month), summed
    -- per service and rate there: the sums of a bill's accounts are added up below
    SELECT r.bill_id, r.group_id, r.informational, r.decimals, e.service, e.rate, e.events,
           e.units, e.cost
    FROM run r CROSS JOIN LATERAL (
        SELECT e.service, e.rate, count(*) AS events, sum(e.units) AS units,
               sum(e.cost) AS cost
        FROM rated_events e
        WHERE e.account_id = r.account_id AND e.event_time < r.until
          AND e.event_time >= coalesce(r.since, '-infinity')
          AND e.kind IN ('event', 'update', 'end', 'expired', 'refund')
          AND e.collected_bill_id IS NULL
          AND pg_visible_in_snapshot(e.ingest_xid::text::xid8, $7::text::pg_snapshot)
        GROUP BY e.service, e.rate) e
    UNION ALL
    -- late records: per account, the index range of what was stored since the last bills
    -- (rated_events_account_ingest)
    SELECT r.bill_id, r.group_id, r.informational, r.decimals, e.service, e.rate, e.events,
           e.units, e.cost
    FROM run r CROSS JOIN LATERAL (
        SELECT e.service, e.rate, count(*) AS events, sum(e.units) AS units,
               sum(e.cost) AS cost
        FROM rated_events e
        WHERE e.account_id = r.account_id AND e.ingest_xid >= $8 AND e.event_time < r.since
          AND e.kind IN ('event', 'update', 'end', 'expired', 'refund')
          AND e.collected_bill_id IS NULL
          AND NOT pg_visible_in_snapshot(e.ingest_xid::text::xid8, r.since_snapshot::pg_snapshot)
          AND pg_visible_in_snapshot(e.ingest_xid::text::xid8, $7::text::pg_snapshot)
        GROUP BY e.service, e.rate) e
    WHERE r.since IS NOT NULL
)
INSERT INTO bill_items (bill_id, source, kind, description, balance_group_id, service, rate,
                        events, units, amount, informational)
SELECT bill_id, 'usage:' || group_id || ':' || service || ':' || rate, 'usage',
       'Usage ' || service || CASE WHEN rate = '' THEN '' ELSE ' (' || rate || ')' END,
       group_id, service, rate, sum(events), sum(units), round(sum(cost), min(decimals)),
       informational
FROM taken GROUP BY bill_id, group_id, service, rate, informational
ON CONFLICT (bill_id, source) DO NOTHING;

-- name: usage_details
-- The rated records a preview's bill would take (same rule as take_usage), oldest first. $1 profile id, $2 last limit, $3 last snapshot, $4 limit, $5 snapshot, $6 most rows
SELECT e.account_id, e.request_id, e.kind, e.subscriber, e.service, e.rate, e.event_time,
       e.units, e.rated_units, e.cost, e.currency
FROM balance_groups g JOIN rated_events e ON e.account_id = g.account_id
WHERE g.billing_profile_id = $1 AND e.event_time < $4
  AND e.kind IN ('event', 'update', 'end', 'expired', 'refund') AND e.collected_bill_id IS NULL
  AND pg_visible_in_snapshot(e.ingest_xid::text::xid8, $5::text::pg_snapshot)
  AND ($2::timestamptz IS NULL OR e.event_time >= $2
       OR NOT pg_visible_in_snapshot(e.ingest_xid::text::xid8, $3::text::pg_snapshot))
ORDER BY e.event_time, e.request_id LIMIT $6;

-- name: fee_purchases
-- Purchases of the profiles that may owe a fee, locked: recurring ones still running or cancelled after their last charge, one-time ones never charged. $1 profile ids
SELECT p.id, g.billing_profile_id, s.id AS subscription_id, s.balance_group_id, p.product,
       p.quantity, p.charge, p.list_price, p.discounts, p.created_at, p.cancelled_at,
       p.billed_through, p.fee_cycles
FROM purchases p
JOIN subscriptions s ON s.id = p.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE g.billing_profile_id = ANY($1::bigint[]) AND p.list_price > 0
  AND p.status IN ('active', 'cancelled')
  AND (p.billed_through IS NULL
       OR (p.charge = 'recurring'
           AND (p.cancelled_at IS NULL OR p.cancelled_at > p.billed_through)))
ORDER BY p.id
FOR UPDATE OF p;

-- name: coupon_cycles
-- How many charged cycles each coupon's discount lasts (0: always). $1 codes
SELECT code, cycles FROM coupons WHERE code = ANY($1::text[]);

-- name: insert_fee_items
-- Fee and discount items; amounts as text (the driver's binary numeric encoding is slow). $1 bill ids, $2 sources, $3 kinds, $4 descriptions, $5 group ids, $6 subscription ids, $7 purchase ids, $8 amounts, $9 informational, $10 period starts, $11 period ends
INSERT INTO bill_items (bill_id, source, kind, description, balance_group_id, subscription_id,
                        purchase_id, amount, informational, period_start, period_end)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::text[]::numeric[], $9::boolean[],
                     $10::timestamptz[], $11::timestamptz[])
ON CONFLICT (bill_id, source) DO NOTHING;

-- name: mark_purchases_billed
-- What each purchase's fees were charged through. $1 purchase ids, $2 billed through, $3 periods charged
UPDATE purchases p SET billed_through = u.through, fee_cycles = u.cycles
FROM unnest($1::bigint[], $2::timestamptz[], $3::int[]) AS u(id, through, cycles)
WHERE p.id = u.id;

-- name: take_balance_adjustments
-- Applied money adjustments of postpaid balances (not purchase payments) become items: giving money credits the bill. $1 bill ids, $2 profile ids, $3 limits, $4 currencies
WITH run AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[])
        AS r(bill_id, profile_id, until, currency)
), taken AS (
    UPDATE balance_adjustments a SET bill_id = r.bill_id
    FROM run r, balances b, balance_groups g
    WHERE a.bill_id IS NULL AND a.status = 'applied' AND a.applied_at < r.until
      AND b.customer_id = a.customer_id AND b.balance_id = a.balance_id
      AND b.resource = r.currency AND g.id = b.balance_group_id
      AND g.billing_profile_id = r.profile_id
      AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.adjustment_id = a.id)
    RETURNING a.id, r.bill_id, g.id AS group_id, a.amount, a.reason, a.tax, a.ledger
)
INSERT INTO bill_items (bill_id, source, kind, description, balance_group_id, amount, tax, ledger)
SELECT bill_id, 'adjustment:balance:' || id, 'adjustment', 'Balance adjustment: ' || reason,
       group_id, -amount, tax, ledger
FROM taken
ON CONFLICT (bill_id, source) DO NOTHING;

-- name: close_bills
-- The bills go to billing with the usage limit they took. $1 bill ids, $2 usage limits
UPDATE bills b SET status = 'billing', usage_until = u.until, billed_at = now()
FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, until)
WHERE b.id = u.id;

-- name: activate_bills
-- The prepared next bills become the current ones, ending where the profile's rule says now. $1 bill ids, $2 period ends
UPDATE bills b SET status = 'active', period_end = u.period_end
FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, period_end)
WHERE b.id = u.id AND b.status = 'inactive';

-- name: mark_usage_billed
-- The profiles' usage is billed up to these limits, as snapshot $3 saw it. $1 profile ids, $2 limits, $3 snapshot
UPDATE billing_profiles p SET usage_until = u.until, usage_snapshot = $3::text::pg_snapshot,
       updated_at = now()
FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, until)
WHERE p.id = u.id;

-- name: move_items
-- Bill now: the active bill's items move to the new bill. $1 from bill id, $2 to bill id
UPDATE bill_items SET bill_id = $2 WHERE bill_id = $1;

-- name: insert_item
-- One item (an operator's adjustment, a hierarchy transfer); an existing source is kept. $1 bill id, $2 source, $3 kind, $4 description, $5 group id, $6 amount, $7 tax, $8 ledger
INSERT INTO bill_items (bill_id, source, kind, description, balance_group_id, amount, tax, ledger)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (bill_id, source) DO NOTHING
RETURNING id;

-- name: items_of_bills
-- The bills' items, in bill and id order. $1 bill ids
SELECT id, bill_id, kind, description, amount, informational, tax, ledger, period_start,
       period_end
FROM bill_items WHERE bill_id = ANY($1::bigint[]) ORDER BY bill_id, id;

-- name: settle_bills
-- Billed bills carry their invoice's figures; nothing due closes them. $1 bill ids, $2 totals, $3 amounts due (amounts as text)
UPDATE bills b SET total = u.total, amount_due = u.due,
       status = CASE WHEN u.due <= 0 THEN 'closed' ELSE b.status END,
       closed_at = CASE WHEN u.due <= 0 THEN now() ELSE b.closed_at END
FROM unnest($1::bigint[], $2::text[]::numeric[], $3::text[]::numeric[]) AS u(id, total, due)
WHERE b.id = u.id;

-- name: active_bill_for_share
-- A profile's active bill, share-locked so no run moves it before this transaction ends. $1 profile id
SELECT id FROM bills WHERE billing_profile_id = $1 AND status = 'active' FOR SHARE;

-- name: adjustment_by_request
-- A bill adjustment recorded before under this request id. $1 request id
SELECT * FROM bill_adjustments WHERE request_id = $1;

-- name: lock_bill
-- A bill with its profile's tax, time zone, credit balance and its invoice, locked. $1 bill id
SELECT b.*, p.tax AS profile_tax, p.time_zone, p.credit_balance, i.id AS invoice_id,
       i.number AS invoice_number, i.status AS invoice_status, i.amount_due AS invoice_due
FROM bills b
JOIN billing_profiles p ON p.id = b.billing_profile_id
LEFT JOIN invoices i ON i.bill_id = b.id AND i.kind = 'invoice'
WHERE b.id = $1
FOR UPDATE OF b, p;

-- name: item_of_bill
-- A bill's item (an adjustment may name it). $1 bill id, $2 item id
SELECT id, description FROM bill_items WHERE bill_id = $1 AND id = $2;

-- name: group_of_profile
-- A balance group billed to the profile. $1 profile id, $2 group id
SELECT id FROM balance_groups WHERE billing_profile_id = $1 AND id = $2;

-- name: insert_bill_adjustment
-- An operator's adjustment of a bill. $1 request id, $2 bill id, $3 item id, $4 group id, $5 amount, $6 reason, $7 tax, $8 tax provider, $9 ledger, $10 requested by
INSERT INTO bill_adjustments (request_id, bill_id, bill_item_id, balance_group_id, amount, reason,
                              tax, tax_provider, ledger, requested_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: link_credit_note
-- The credit note an adjustment of a billed bill made. $1 adjustment id, $2 credit note id
UPDATE bill_adjustments SET credit_note_id = $2 WHERE id = $1;

-- name: insert_tax_items
-- A billed bill's VAT per rate, as items (so its items add up to its total); amounts as text. $1 bill ids, $2 sources, $3 descriptions, $4 amounts, $5 taxes
INSERT INTO bill_items (bill_id, source, kind, description, amount, tax)
SELECT b, s, 'tax', d, a::numeric, t
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(b, s, d, a, t)
ON CONFLICT (bill_id, source) DO NOTHING;

-- name: bill_has_items
-- Whether a bill holds any item. $1 bill id
SELECT EXISTS (SELECT 1 FROM bill_items WHERE bill_id = $1);
