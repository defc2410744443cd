-- One charge's path through billing (admin_api/trace.py, docs/tracing.md): its rated record and
-- refunds, the bill and usage items that took it, the invoice lines made from those items.

-- name: accounts_of_identifier
-- The account of the balance group a service identifier belongs to now (none for accounts provisioned outside Postgres). $1 identifier
SELECT g.account_id
FROM services v
JOIN subscriptions s ON s.id = v.subscription_id
JOIN balance_groups g ON g.id = s.balance_group_id
WHERE v.identifier = $1;

-- name: traced_records
-- A request's rated records on these accounts (through the primary key). $1 account ids (text[]), $2 request id (e:<event>)
SELECT account_id, request_id, x_request_id, kind, subscriber, service, rate, event_time,
       charged_at, units, rated_units, cost::text AS cost, currency, impacts, ingested_at,
       collected_bill_id
FROM rated_events
WHERE account_id = ANY($1::text[]) AND request_id = $2
ORDER BY account_id, event_time;

-- name: traced_records_anywhere
-- A request's rated records on any account: reads every partition, as no index leads with the request id (a trace without the subscriber). $1 request id (e:<event>), $2 at most this many
SELECT account_id, request_id, x_request_id, kind, subscriber, service, rate, event_time,
       charged_at, units, rated_units, cost::text AS cost, currency, impacts, ingested_at,
       collected_bill_id
FROM rated_events
WHERE request_id = $1
ORDER BY account_id, event_time
LIMIT $2;

-- name: traced_refunds
-- The refunds of a charged event on its account, oldest first. $1 account id, $2 the event's id (without e:)
SELECT request_id, x_request_id, cost::text AS cost, currency, event_time, charged_at
FROM rated_events
WHERE account_id = $1 AND kind = 'refund' AND refunded = $2
ORDER BY charged_at, request_id;

-- name: traced_group
-- The balance group of an engine account and its billing profile. $1 account id
SELECT id, billing_profile_id FROM balance_groups WHERE account_id = $1;

-- name: traced_cycle_bill
-- The cycle (or bill-now) bill that took a record: the first of the profile's billed bills, billed once the record was stored, whose usage limit is past the record's event time. Derived: a bill takes the records its snapshot sees and keeps no snapshot of its own. $1 profile id, $2 event time, $3 when the record was stored
SELECT id
FROM bills
WHERE billing_profile_id = $1 AND kind IN ('cycle', 'now') AND status IN ('billing', 'closed')
  AND usage_until > $2 AND billed_at >= $3
ORDER BY billed_at, id
LIMIT 1;

-- name: traced_active_bill
-- The profile's active bill (the one usage not billed yet is heading for). $1 profile id
SELECT id FROM bills WHERE billing_profile_id = $1 AND status = 'active';

-- name: traced_items
-- A bill's usage items summing the records of one balance group, service and rate (a usage bill has one per purchase), as the bill item API shows them. $1 bill id, $2 balance group id, $3 service, $4 rate
SELECT id, bill_id, source, kind, description, balance_group_id, subscription_id, purchase_id,
       service, rate, events, units::text AS units, amount::text AS amount, informational, tax,
       ledger, period_start, period_end, created_at
FROM bill_items
WHERE bill_id = $1 AND kind = 'usage' AND balance_group_id = $2 AND service = $3 AND rate = $4
ORDER BY id;

-- name: traced_invoice_lines
-- The lines of a bill's invoice made from these bill items. $1 bill id, $2 bill item ids (bigint[])
SELECT i.id AS invoice_id, i.number AS invoice_number, i.status AS invoice_status,
       l.number, l.kind, l.description, l.quantity::text AS quantity,
       l.unit_price::text AS unit_price, l.net::text AS net, l.tax_category,
       l.tax_rate::text AS tax_rate, l.bill_item_id
FROM invoices i
JOIN invoice_lines l ON l.invoice_id = i.id
WHERE i.bill_id = $1 AND i.kind = 'invoice' AND l.bill_item_id = ANY($2::bigint[])
ORDER BY l.number;
