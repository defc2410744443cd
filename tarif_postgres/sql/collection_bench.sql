-- What the payment-collection benchmark writes and checks (loadtest/collection_bench.py),
-- besides the customers of loadtest/customers.py and the profiles of billing_bench.sql. Set-based.

-- name: bench_payment_methods
-- Customer i pays by card (token tok_ok_<i>; every 50th tok_decline_insufficient_funds), every 20th (i % 20 = 10) by direct debit under mandate BENCH-<i>. $1 how many
UPDATE customers SET
    payment_method = CASE WHEN id % 20 = 10 THEN 'direct_debit' ELSE 'credit_card' END,
    payment_info = CASE WHEN id % 20 = 10
        THEN jsonb_build_object('mandate_id', 'BENCH-' || id, 'signature_date', '2026-01-15',
                                'iban', 'DE89370400440532013000', 'bic', 'COBADEFFXXX')
        ELSE jsonb_build_object('holder', first_name || ' ' || last_name, 'gateway', 'sandbox',
            'token', CASE WHEN id % 50 = 0 THEN 'tok_decline_insufficient_funds'
                          ELSE 'tok_ok_' || id END) END
WHERE id <= $1;

-- name: bench_mandates
-- The direct-debit customers' active mandates, of creditor $1. $1 creditor id
INSERT INTO sepa_mandates (creditor_id, reference, customer_id, iban, bic, signature_date)
SELECT $1, payment_info ->> 'mandate_id', id, payment_info ->> 'iban', payment_info ->> 'bic',
    DATE '2026-01-15'
FROM customers WHERE payment_method = 'direct_debit';

-- name: bench_series
-- The benchmark's invoice series.
INSERT INTO invoice_series (name) VALUES ('BENCH') ON CONFLICT DO NOTHING;

-- name: bench_bills
-- One billed bill per profile 1..$1 (November), its total 10.00 + (i % 7) EUR. $1 how many
INSERT INTO bills (id, billing_profile_id, customer_id, status, kind, currency, period_start,
    period_end, total, amount_due)
SELECT i, i, i, 'billing', 'cycle', 'EUR', TIMESTAMPTZ '2026-11-01 00:00Z',
    TIMESTAMPTZ '2026-12-01 00:00Z', 10.00 + i % 7, 10.00 + i % 7
FROM generate_series(1, $1::bigint) AS i;

-- name: bench_invoices
-- Its issued invoice BENCH-<i> (issued 1 December, due 16 December). $1 how many
INSERT INTO invoices (id, kind, bill_id, billing_profile_id, customer_id, series, seq, number,
    status, currency, issue_date, due_date, period_start, period_end, net_total, total,
    issued_at)
SELECT i, 'invoice', i, i, i, 'BENCH', i, 'BENCH-' || lpad(i::text, 6, '0'), 'billing', 'EUR',
    DATE '2026-12-01', DATE '2026-12-16', DATE '2026-11-01', DATE '2026-11-30', 10.00 + i % 7,
    10.00 + i % 7, TIMESTAMPTZ '2026-12-01 00:00Z'
FROM generate_series(1, $1::bigint) AS i;

-- name: bench_pending_totals
-- The profiles owe their invoices (as a billing run leaves them).
UPDATE billing_profiles p SET pending_total = i.amount_due FROM invoices i
WHERE i.billing_profile_id = p.id;

-- name: bench_reset_invoice_sequences
-- Moves the bills' and invoices' id sequences past the generated ids.
SELECT setval('bills_id_seq', (SELECT max(id) FROM bills)),
       setval('invoices_id_seq', (SELECT max(id) FROM invoices));

-- name: bench_analyze
-- Fresh statistics after the bulk load.
VACUUM ANALYZE customers, billing_profiles, bills, invoices, sepa_mandates;

-- name: bench_run_row
-- A run row for one worker's run of the job. $1 process now
INSERT INTO job_runs (job_type, job_name, trigger, process_now, status, started_at)
VALUES ('payment_collection', 'bench', 'manual', $1, 'running', now()) RETURNING id;

-- name: bench_check
-- What the run left: invoices by status, attempts by status, card payments (count, sum, the most on one invoice), direct-debit items, the journal's sides.
SELECT
    (SELECT count(*) FROM invoices WHERE status = 'closed') AS closed,
    (SELECT count(*) FROM invoices WHERE status = 'billing') AS open,
    (SELECT count(*) FROM payment_attempts WHERE status = 'succeeded') AS succeeded,
    (SELECT count(*) FROM payment_attempts WHERE status = 'declined') AS declined,
    (SELECT count(*) FROM payment_attempts WHERE status NOT IN ('succeeded', 'declined'))
        AS other,
    (SELECT count(*) FROM payments WHERE method = 'credit_card') AS payments,
    (SELECT coalesce(sum(amount), 0) FROM payments WHERE method = 'credit_card') AS paid,
    (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM payment_allocations
        GROUP BY invoice_id) s) AS most_on_one_invoice,
    (SELECT count(*) FROM sepa_collection_items) AS debits,
    (SELECT count(*) FROM sepa_collections) AS collections,
    (SELECT count(*) FROM customers WHERE payment_method = 'direct_debit') AS debit_customers,
    (SELECT count(*) FROM customers WHERE payment_info ->> 'token' LIKE 'tok_decline%')
        AS declining_cards,
    (SELECT coalesce(sum(debit), 0) FROM journal_lines) AS debit,
    (SELECT coalesce(sum(credit), 0) FROM journal_lines) AS credit;
