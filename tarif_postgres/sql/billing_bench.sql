-- What the billing and ingestion benchmarks write and measure (loadtest/billing_bench.py,
-- loadtest/ingest_bench.py), besides the customers of loadtest/customers.py. Set-based only.

-- name: bench_session
-- Session settings for bulk loading and index builds (the benchmark's own connection).
SET maintenance_work_mem = '512MB';

-- name: bench_shared_buffers
-- The benchmark server's cache (applied at restart): the month's rated records and their index fit.
ALTER SYSTEM SET shared_buffers = '2GB';

-- name: bench_max_wal_size
-- Fewer checkpoints while bulk loading and billing (applied at restart).
ALTER SYSTEM SET max_wal_size = '8GB';

-- name: bench_tax
-- The tax every benchmark profile pays.
INSERT INTO taxes (name, rate, category) VALUES ('VAT22', 22, 'S') ON CONFLICT DO NOTHING;

-- name: bench_coupon
-- A coupon worth 2.00 EUR off the monthly fee for 3 charged cycles.
INSERT INTO coupons (code, amount, currency, cycles, max_uses, uses, description)
VALUES ('WELCOME2', 2.00, 'EUR', 3, 1000000, 0, 'benchmark coupon')
ON CONFLICT DO NOTHING;

-- name: bench_profiles
-- Profiles 1..$1 (customer i, postpaid, monthly on day 1, UTC, VAT22) valid from $2; each customer's balance group is billed to it. $1 how many, $2 valid from
WITH made AS (
    INSERT INTO billing_profiles (id, customer_id, payment_type, currency, billing_interval,
                                  billing_day, time_zone, valid_from, tax, created_at)
    SELECT i, i, 'postpaid', 'EUR', 'monthly', 1, 'UTC', $2, 'VAT22', $2
    FROM generate_series(1, $1::bigint) AS i
    RETURNING id
)
UPDATE balance_groups g SET billing_profile_id = m.id FROM made m WHERE g.id = m.id;

-- name: bench_purchases
-- A recurring 10.00 EUR fee on each subscription 1..$1, bought at $2; every 4th with the coupon's 2.00 EUR discount. $1 how many, $2 bought at
INSERT INTO purchases (subscription_id, origin, offer, product, quantity, currency, charge,
                       list_price, discount, price, discounts, coupons, unit_price, status,
                       created_at)
SELECT i, 'plan', 'basic', 'basic-fee', 1, 'EUR', 'recurring', 10.00,
       CASE WHEN i % 4 = 0 THEN 2.00 ELSE 0 END, CASE WHEN i % 4 = 0 THEN 8.00 ELSE 10.00 END,
       CASE WHEN i % 4 = 0
            THEN '[{"source": "coupon", "id": "WELCOME2", "amount": "2.00"}]'::jsonb
            ELSE '[]'::jsonb END,
       CASE WHEN i % 4 = 0 THEN ARRAY['WELCOME2'] ELSE '{}'::text[] END, 10.00, 'active', $2
FROM generate_series(1, $1::bigint) AS i;

-- name: bench_reset_sequences
-- Moves the billing profiles' id sequence past the generated ids.
SELECT setval('billing_profiles_id_seq', (SELECT max(id) FROM billing_profiles));

-- name: bench_events_table
-- A bare table shaped as rated_events, filled before it becomes a partition (indexes built once, after). Slots from code: {partition} a month's partition name
CREATE TABLE {partition} (LIKE rated_events INCLUDING DEFAULTS);

-- name: bench_fill_events
-- $3 rated records in time order over [$2, $2 + $4 seconds), spread over accounts L0..L($1-1): voice, sms, data at 0.01..0.97 EUR (2 decimals). Slots from code: {partition} the table. $1 accounts, $2 month start, $3 how many, $4 seconds in the month
INSERT INTO {partition} (account_id, request_id, kind, service, rate, event_time, charged_at,
                         units, rated_units, cost, currency)
SELECT 'L' || ((g * 7919) % $1::bigint), 'e:' || g, 'event', s.service, s.service || '-std',
       t.at, t.at, 60, 60, ((g % 97) + 1) / 100.0, 'EUR'
FROM generate_series(0, $3::bigint - 1) AS g,
     LATERAL (SELECT $2::timestamptz + make_interval(secs => (g * $4::bigint / $3::bigint))
              AS at) t,
     LATERAL (SELECT (ARRAY['voice', 'sms', 'data'])[1 + g % 3] AS service) s;

-- name: bench_attach_events
-- The filled table becomes the month's partition (its indexes are built here). Slots from code: {partition} the table, {start} and {end} the month's bounds
ALTER TABLE rated_events ATTACH PARTITION {partition} FOR VALUES FROM ('{start}') TO ('{end}');

-- name: bench_analyze
-- Fresh statistics and visibility maps after the bulk load.
VACUUM ANALYZE customers, billing_profiles, balance_groups, subscriptions, purchases, rated_events;

-- name: bench_floor
-- The floor of a billing run: one set-based pass summing every account's rated records.
SELECT count(*) FROM (SELECT account_id, sum(cost) FROM rated_events GROUP BY account_id) s;

-- name: bench_check_bills
-- Per profile: how many cycle bills went to billing or closed (each must be 1), as counts of counts.
SELECT billed, count(*) AS profiles FROM (
    SELECT p.id, count(b.id) FILTER (WHERE b.status IN ('billing', 'closed')) AS billed
    FROM billing_profiles p LEFT JOIN bills b ON b.billing_profile_id = p.id
    GROUP BY p.id) s
GROUP BY billed ORDER BY billed;

-- name: bench_check_numbers
-- The invoices of series $1: how many, distinct numbers, lowest and highest seq, failed ones. $1 series
SELECT count(*) AS invoices, count(DISTINCT number) AS numbers, min(seq) AS first,
       max(seq) AS last, count(*) FILTER (WHERE status = 'failed') AS failed
FROM invoices WHERE kind = 'invoice' AND (series = $1 OR status = 'failed');

-- name: bench_check_usage
-- Rated money and records against the usage items that took them.
SELECT (SELECT coalesce(sum(cost), 0) FROM rated_events) AS rated,
       (SELECT count(*) FROM rated_events) AS records,
       (SELECT coalesce(sum(amount), 0) FROM bill_items WHERE kind = 'usage') AS billed,
       (SELECT coalesce(sum(events), 0) FROM bill_items WHERE kind = 'usage') AS events;

-- name: bench_check_journal
-- Debits and credits of the whole journal (they must be equal).
SELECT coalesce(sum(debit), 0) AS debit, coalesce(sum(credit), 0) AS credit FROM journal_lines;

-- name: bench_raw_rated_table
-- The raw COPY's target: a table shaped and indexed as a rated_events partition (the floor of ingestion).
CREATE TABLE rated_raw (LIKE rated_events INCLUDING DEFAULTS INCLUDING INDEXES);

-- name: bench_count_rated
-- Rated records stored by the ingestion, and by the raw COPY.
SELECT (SELECT count(*) FROM rated_events) AS ingested, (SELECT count(*) FROM rated_raw) AS raw;
