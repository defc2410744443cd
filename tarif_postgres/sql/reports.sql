-- Financial reports and exports (docs/jobs-reporting.md): the report queries of the financial
-- reporting job, the stored reports the admin API lists, the data an export job writes, its
-- delivery log, and dead notification deliveries put back for the notifier.
-- Filters $3..$6 of the report queries: ledgers, ledger groups, revenue types, account types
-- (text[]; an empty array selects all).

-- name: journal_report
-- The journal of a period summed per currency by account (with its classification), ledger, ledger group, revenue type and account type, and in total; net = debit - credit. $1 first day, $2 day after the last, $3 ledgers, $4 ledger groups, $5 revenue types, $6 account types
WITH sums AS (
    SELECT t.currency, l.account, sum(l.debit) AS debit, sum(l.credit) AS credit,
           count(*) AS entries
    FROM journal_transactions t JOIN journal_lines l ON l.transaction_id = t.id
    WHERE t.booked_on >= $1 AND t.booked_on < $2
    GROUP BY t.currency, l.account
), classified AS (
    SELECT s.*, c.* FROM sums s CROSS JOIN LATERAL account_class(s.account) c
    WHERE (cardinality($3::text[]) = 0 OR c.ledger = ANY($3::text[]))
      AND (cardinality($4::text[]) = 0 OR c.ledger_group = ANY($4::text[]))
      AND (cardinality($5::text[]) = 0 OR c.revenue_type = ANY($5::text[]))
      AND (cardinality($6::text[]) = 0 OR c.account_type = ANY($6::text[]))
)
SELECT CASE WHEN GROUPING(account) = 0 THEN 'account'
            WHEN GROUPING(ledger) = 0 THEN 'ledger'
            WHEN GROUPING(ledger_group) = 0 THEN 'ledger_group'
            WHEN GROUPING(revenue_type) = 0 THEN 'revenue_type'
            WHEN GROUPING(account_type) = 0 THEN 'account_type'
            ELSE 'total' END AS dimension,
       currency, account, ledger, ledger_group, revenue_type, account_type,
       sum(debit) AS debit, sum(credit) AS credit, sum(debit) - sum(credit) AS net,
       sum(entries)::bigint AS entries,
       NULL::numeric AS opening_deferred, NULL::numeric AS billed,
       NULL::numeric AS recognized, NULL::numeric AS closing_deferred
FROM classified
GROUP BY GROUPING SETS (
    (currency, account, ledger, ledger_group, revenue_type, account_type),
    (currency, ledger), (currency, ledger_group), (currency, revenue_type),
    (currency, account_type), (currency))
ORDER BY currency, GROUPING(account), GROUPING(ledger), GROUPING(ledger_group),
         GROUPING(revenue_type), GROUPING(account_type),
         account, ledger, ledger_group, revenue_type, account_type;

-- name: revenue_recognition_report
-- The revenue-recognition summary journal of a month per currency by revenue account (and classification), ledger, ledger group, revenue type, account type and in total: revenue deferred at the month's start, billed in it (documents issued; credit notes negative), recognized in it (recognized_through), deferred at its end. $1 first day of the month, $2 first day of the next, $3 ledgers, $4 ledger groups, $5 revenue types, $6 account types
WITH lines AS (
    SELECT i.currency,
           'revenue:' || coalesce(l.ledger, 'sales') AS account,
           CASE WHEN i.kind = 'credit_note' THEN -l.net ELSE l.net END AS net,
           i.decimals, i.issue_date, l.period_start, l.period_end
    FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
    WHERE i.issued_at IS NOT NULL AND l.kind <> 'transfer'
      AND i.issue_date < $2 AND (i.issue_date >= $1 OR l.period_end >= $1)
), parts AS (
    SELECT currency, account,
           CASE WHEN issue_date < $1 THEN net - recognized_through(
               net, decimals, issue_date, period_start, period_end, ($1::date - 1)) ELSE 0
           END AS opening_deferred,
           CASE WHEN issue_date >= $1 THEN net ELSE 0 END AS billed,
           recognized_through(net, decimals, issue_date, period_start, period_end, ($2::date - 1))
           - recognized_through(net, decimals, issue_date, period_start, period_end,
                                ($1::date - 1)) AS recognized,
           net - recognized_through(
               net, decimals, issue_date, period_start, period_end, ($2::date - 1))
               AS closing_deferred
    FROM lines
), sums AS (
    SELECT currency, account, sum(opening_deferred) AS opening_deferred, sum(billed) AS billed,
           sum(recognized) AS recognized, sum(closing_deferred) AS closing_deferred
    FROM parts GROUP BY currency, account
), classified AS (
    SELECT s.*, c.* FROM sums s CROSS JOIN LATERAL account_class(s.account) c
    WHERE (cardinality($3::text[]) = 0 OR c.ledger = ANY($3::text[]))
      AND (cardinality($4::text[]) = 0 OR c.ledger_group = ANY($4::text[]))
      AND (cardinality($5::text[]) = 0 OR c.revenue_type = ANY($5::text[]))
      AND (cardinality($6::text[]) = 0 OR c.account_type = ANY($6::text[]))
)
SELECT CASE WHEN GROUPING(account) = 0 THEN 'account'
            WHEN GROUPING(ledger) = 0 THEN 'ledger'
            WHEN GROUPING(ledger_group) = 0 THEN 'ledger_group'
            WHEN GROUPING(revenue_type) = 0 THEN 'revenue_type'
            WHEN GROUPING(account_type) = 0 THEN 'account_type'
            ELSE 'total' END AS dimension,
       currency, account, ledger, ledger_group, revenue_type, account_type,
       NULL::numeric AS debit, NULL::numeric AS credit, NULL::numeric AS net,
       NULL::bigint AS entries,
       sum(opening_deferred) AS opening_deferred, sum(billed) AS billed,
       sum(recognized) AS recognized, sum(closing_deferred) AS closing_deferred
FROM classified
GROUP BY GROUPING SETS (
    (currency, account, ledger, ledger_group, revenue_type, account_type),
    (currency, ledger), (currency, ledger_group), (currency, revenue_type),
    (currency, account_type), (currency))
ORDER BY currency, GROUPING(account), GROUPING(ledger), GROUPING(ledger_group),
         GROUPING(revenue_type), GROUPING(account_type),
         account, ledger, ledger_group, revenue_type, account_type;

-- name: upsert_report
-- The report of a kind, period, time zone and filters, created if new, locked; its id and revision, and whether it was created now. $1 kind, $2 first day, $3 day after the last, $4 time zone, $5 filters (jsonb), $6 fingerprint, $7 run id
INSERT INTO financial_reports (kind, period_start, period_end, time_zone, filters, fingerprint,
                               run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (kind, period_start, period_end, time_zone, fingerprint)
DO UPDATE SET run_id = EXCLUDED.run_id, computed_at = now()
RETURNING id, revision, (xmax = 0) AS created;

-- name: report_lines_stored
-- A report's lines in order, as the report queries give them. $1 report id
SELECT dimension, currency, account, ledger, ledger_group, revenue_type, account_type,
       debit, credit, net, entries, opening_deferred, billed, recognized, closing_deferred
FROM financial_report_lines WHERE report_id = $1 ORDER BY position;

-- name: delete_report_lines
-- $1 report id
DELETE FROM financial_report_lines WHERE report_id = $1;

-- name: insert_report_lines
-- A report's lines; numbers as text. $1 report id, $2 positions, $3 dimensions, $4 currencies, $5 accounts, $6 ledgers, $7 ledger groups, $8 revenue types, $9 account types, $10 debits, $11 credits, $12 nets, $13 entries, $14 opening deferred, $15 billed, $16 recognized, $17 closing deferred
INSERT INTO financial_report_lines (report_id, position, dimension, currency, account, ledger,
    ledger_group, revenue_type, account_type, debit, credit, net, entries, opening_deferred,
    billed, recognized, closing_deferred)
SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[]::numeric[], $11::text[]::numeric[],
    $12::text[]::numeric[], $13::bigint[], $14::text[]::numeric[], $15::text[]::numeric[],
    $16::text[]::numeric[], $17::text[]::numeric[]);

-- name: bump_report_revision
-- The report's figures changed. $1 report id
UPDATE financial_reports SET revision = revision + 1 WHERE id = $1;

-- name: reports_page
-- Reports newest first. $1 kind or null, $2 period ends on or after (date) or null, $3 period starts before (date) or null, $4 after this id, $5 page size
SELECT r.id, r.kind, r.period_start, r.period_end, r.time_zone, r.filters, r.revision,
       r.run_id, r.computed_at, r.created_at,
       (SELECT count(*) FROM financial_report_lines l WHERE l.report_id = r.id) AS lines
FROM financial_reports r
WHERE ($1::text IS NULL OR r.kind = $1)
  AND ($2::date IS NULL OR r.period_end > $2)
  AND ($3::date IS NULL OR r.period_start < $3)
  AND r.id < $4
ORDER BY r.id DESC LIMIT $5;

-- name: report_by_id
-- One report. $1 id
SELECT r.id, r.kind, r.period_start, r.period_end, r.time_zone, r.filters, r.revision,
       r.run_id, r.computed_at, r.created_at,
       (SELECT count(*) FROM financial_report_lines l WHERE l.report_id = r.id) AS lines
FROM financial_reports r WHERE r.id = $1;

-- name: report_lines
-- A report's lines in order, optionally of one dimension. $1 report id, $2 dimension or null
SELECT position, dimension, currency, account, ledger, ledger_group, revenue_type, account_type,
       debit, credit, net, entries, opening_deferred, billed, recognized, closing_deferred
FROM financial_report_lines
WHERE report_id = $1 AND ($2::text IS NULL OR dimension = $2)
ORDER BY position;

-- name: export_invoices
-- Invoices and credit notes whose date field lies in the period, of the selected customers. $1 first day, $2 day after the last, then the customer criteria's values. Slots: {field} (i.issue_date or i.due_date), {customers} (a condition on c)
SELECT i.id, i.kind, i.number, i.status, i.customer_id, i.billing_profile_id,
       o.number AS corrects_number, i.currency, i.issue_date, i.due_date, i.period_start,
       i.period_end, i.net_total, i.tax_total, i.total, i.credit_applied, i.paid, i.credited,
       i.transferred, i.amount_due
FROM invoices i
JOIN customers c ON c.id = i.customer_id
LEFT JOIN invoices o ON o.id = i.corrects_id
WHERE {field} >= $1 AND {field} < $2 AND {customers}
ORDER BY {field}, i.id;

-- name: export_payments
-- Payments whose time field lies in the period, of the selected customers. $1 from (timestamptz), $2 until, then the customer criteria's values. Slots: {field} (p.received_at or p.created_at), {customers}
SELECT p.id, p.kind, p.method, p.provider, p.reference, p.customer_id, p.billing_profile_id,
       p.invoice_id, p.amount, p.currency, p.to_credit, p.received_at,
       p.created_at AS recorded_at, p.recorded_by
FROM payments p
JOIN customers c ON c.id = p.customer_id
WHERE {field} >= $1 AND {field} < $2 AND {customers}
ORDER BY {field}, p.id;

-- name: export_usage_events
-- Rated records whose time field lies in the period, of the selected customers (a record of an account no customer holds goes in only when no customer criteria are given). $1 from (timestamptz), $2 until, then the customer criteria's values. Slots: {field} (e.event_time or e.ingested_at), {customers}
SELECT e.account_id, c.id AS customer_id, e.request_id, e.kind, e.subscriber, e.service,
       e.rate, e.event_time, e.charged_at, e.ingested_at AS stored_at, e.units, e.rated_units,
       e.cost, e.currency, e.session_id
FROM rated_events e
LEFT JOIN balance_groups g ON g.account_id = e.account_id
LEFT JOIN customers c ON c.id = g.customer_id
WHERE {field} >= $1 AND {field} < $2 AND {customers}
ORDER BY {field}, e.account_id, e.request_id;

-- name: export_financial_reports
-- The lines of the reports whose last day (period_end field) or computation time lies in the period. $1 from (date or timestamptz, as the field), $2 until. Slots: {field} ((r.period_end - 1) or r.computed_at)
SELECT r.id AS report_id, r.kind, r.period_start, r.period_end - 1 AS period_last_day,
       r.time_zone, r.revision, l.dimension, l.currency, l.account, l.ledger, l.ledger_group,
       l.revenue_type, l.account_type, l.debit, l.credit, l.net, l.entries,
       l.opening_deferred, l.billed, l.recognized, l.closing_deferred
FROM financial_reports r JOIN financial_report_lines l ON l.report_id = r.id
WHERE {field} >= $1 AND {field} < $2
ORDER BY r.id, l.position;

-- name: add_export_delivery
-- The log row of one file to one destination (nothing if it exists). $1 key, $2 run id, $3 data, $4 format, $5 destination type, $6 target, $7 file name, $8 first day, $9 day after the last
INSERT INTO export_deliveries (export_key, run_id, data, format, destination, target, file_name,
                               period_start, period_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (export_key) DO NOTHING;

-- name: lock_export_delivery
-- The log row of a delivery, locked while it is sent (another worker's is skipped: no row); its id, status and attempts. $1 key
SELECT id, status, attempts FROM export_deliveries WHERE export_key = $1 FOR UPDATE SKIP LOCKED;

-- name: export_delivery_state
-- The status of a delivery. $1 key
SELECT id, status FROM export_deliveries WHERE export_key = $1;

-- name: mark_export_delivered
-- $1 id, $2 run id, $3 rows, $4 bytes, $5 sha256, $6 what the destination answered
UPDATE export_deliveries SET status = 'delivered', attempts = attempts + 1, run_id = $2,
    rows = $3, bytes = $4, sha256 = $5, detail = $6, error = NULL, delivered_at = now(),
    updated_at = now()
WHERE id = $1;

-- name: mark_export_failed
-- $1 id, $2 run id, $3 error
UPDATE export_deliveries SET status = 'failed', attempts = attempts + 1, run_id = $2, error = $3,
    updated_at = now()
WHERE id = $1;

-- name: export_mail_template
-- An operator's mail template for an export e-mail, if stored. $1 name (<template>.email)
SELECT body FROM mail_templates WHERE name = $1;

-- name: deliveries_page
-- Notification deliveries newest first, with their notification's type and account. $1 status or null, $2 channel or null, $3 after this id, $4 page size
SELECT d.id, d.notification_id, d.selfcare_mail_id, d.channel, d.recipient, d.status,
       d.attempts, d.last_error, d.next_attempt_at, d.delivered_at,
       coalesce(n.type, m.purpose) AS type, n.account_id
FROM notification_deliveries d
LEFT JOIN notifications n ON n.id = d.notification_id
LEFT JOIN selfcare_mails m ON m.id = d.selfcare_mail_id
WHERE ($1::text IS NULL OR d.status = $1) AND ($2::text IS NULL OR d.channel = $2)
  AND d.id < $3
ORDER BY d.id DESC LIMIT $4;

-- name: delivery_by_id
-- One notification delivery, locked for a re-send. $1 id
SELECT d.id, d.notification_id, d.selfcare_mail_id, d.channel, d.recipient, d.status,
       d.attempts, d.last_error, d.next_attempt_at, d.delivered_at,
       coalesce(n.type, m.purpose) AS type, n.account_id
FROM notification_deliveries d
LEFT JOIN notifications n ON n.id = d.notification_id
LEFT JOIN selfcare_mails m ON m.id = d.selfcare_mail_id
WHERE d.id = $1
FOR UPDATE OF d;

-- name: resend_deliveries
-- Dead notification deliveries (not self-care mails, whose token is gone) back to pending, due now, for the notifier to claim: the given ids, or those the filters select, at most $5; the ids re-sent. $1 ids (bigint[]) or null, $2 channel or null, $3 recipient or null, $4 last error containing this or null, $5 at most this many
WITH chosen AS (
    SELECT id FROM notification_deliveries
    WHERE status = 'dead' AND notification_id IS NOT NULL
      AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
      AND ($2::text IS NULL OR channel = $2)
      AND ($3::text IS NULL OR recipient = $3)
      AND ($4::text IS NULL OR strpos(last_error, $4) > 0)
    ORDER BY id LIMIT $5
    FOR UPDATE SKIP LOCKED
)
UPDATE notification_deliveries d SET status = 'pending', next_attempt_at = now()
FROM chosen WHERE d.id = chosen.id
RETURNING d.id, d.channel, d.recipient, d.attempts;

-- name: origin_process_now
-- The "process now" of the run a retry chain started from (the run itself when it is no retry): a retry covers the same period. $1 run id
WITH RECURSIVE chain AS (
    SELECT id, retry_of, process_now FROM job_runs WHERE id = $1
    UNION ALL
    SELECT r.id, r.retry_of, r.process_now FROM job_runs r JOIN chain c ON r.id = c.retry_of
)
SELECT process_now FROM chain WHERE retry_of IS NULL;
