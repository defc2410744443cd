-- What the admin API reads of billing (admin_api/bills.py, invoices.py, payments.py): bills,
-- their items and adjustments, invoices, payments, and the answers of billing requests.

-- name: billing_profile_brief
-- A billing profile's customer, currency and payment type. $1 profile id
SELECT id, customer_id, currency, payment_type FROM billing_profiles WHERE id = $1;

-- name: bills_of_profile
-- One page of a profile's bills, newest first. $1 profile id, $2 status (NULL: any), $3 before this id (MAX on page 1), $4 page size
SELECT b.id, b.billing_profile_id, b.customer_id, b.status, b.kind, b.currency,
       b.period_start, b.period_end, b.usage_until, b.total::text AS total,
       b.amount_due::text AS amount_due,
       coalesce((SELECT sum(amount) FROM bill_items t
                 WHERE t.bill_id = b.id AND NOT t.informational AND t.kind <> 'tax'), 0)::text
       AS items_total,
       b.billed_at, b.closed_at, b.created_at,
       i.id AS invoice_id, i.number AS invoice_number, i.status AS invoice_status
FROM bills b
LEFT JOIN invoices i ON i.bill_id = b.id AND i.kind = 'invoice'
WHERE b.billing_profile_id = $1 AND ($2::text IS NULL OR b.status = $2) AND b.id < $3
ORDER BY b.id DESC LIMIT $4;

-- name: bill_answer
-- One bill as the API shows it, with its invoice. $1 bill id
SELECT b.id, b.billing_profile_id, b.customer_id, b.status, b.kind, b.currency,
       b.period_start, b.period_end, b.usage_until, b.total::text AS total,
       b.amount_due::text AS amount_due,
       coalesce((SELECT sum(amount) FROM bill_items t
                 WHERE t.bill_id = b.id AND NOT t.informational AND t.kind <> 'tax'), 0)::text
       AS items_total,
       b.billed_at, b.closed_at, b.created_at,
       i.id AS invoice_id, i.number AS invoice_number, i.status AS invoice_status
FROM bills b
LEFT JOIN invoices i ON i.bill_id = b.id AND i.kind = 'invoice'
WHERE b.id = $1;

-- name: items_of_bill_page
-- One page of a bill's items, oldest first. $1 bill id, $2 after this id (0 on page 1), $3 page size
SELECT id, bill_id, source, kind, description, balance_group_id, subscription_id, purchase_id,
       service, rate, events, units::text AS units, amount::text AS amount, informational, tax,
       ledger, period_start, period_end, created_at
FROM bill_items WHERE bill_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: adjustments_of_bill_page
-- One page of a bill's adjustments, oldest first. $1 bill id, $2 after this id (0 on page 1), $3 page size
SELECT a.id, a.request_id, a.bill_id, a.bill_item_id, a.balance_group_id,
       a.amount::text AS amount, a.reason, a.tax, a.tax_provider, a.ledger, a.credit_note_id,
       n.number AS credit_note_number, a.requested_by, a.created_at
FROM bill_adjustments a LEFT JOIN invoices n ON n.id = a.credit_note_id
WHERE a.bill_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3;

-- name: adjustment_answer
-- One bill adjustment as the API shows it. $1 adjustment id
SELECT a.id, a.request_id, a.bill_id, a.bill_item_id, a.balance_group_id,
       a.amount::text AS amount, a.reason, a.tax, a.tax_provider, a.ledger, a.credit_note_id,
       n.number AS credit_note_number, a.requested_by, a.created_at
FROM bill_adjustments a LEFT JOIN invoices n ON n.id = a.credit_note_id
WHERE a.id = $1;

-- name: active_bill_end
-- When a profile's active bill's cycle ends (no row: no active bill yet). $1 profile id
SELECT period_end FROM bills WHERE billing_profile_id = $1 AND status = 'active';

-- name: lock_billing_requests_of_profile
-- One billing request of a profile at a time, until the transaction ends. $1 profile id
SELECT pg_advisory_xact_lock(hashtextextended('tarif.billing_requests:' || $1::bigint, 0));

-- name: billing_request_by_id
-- The answer kept for a billing request id. $1 request id
SELECT request_id, billing_profile_id, operation, answer FROM billing_requests
WHERE request_id = $1;

-- name: insert_billing_request
-- Keeps a billing request's answer. $1 request id, $2 profile id, $3 operation, $4 answer (JSON), $5 requested by
INSERT INTO billing_requests (request_id, billing_profile_id, operation, answer, requested_by)
VALUES ($1, $2, $3, $4, $5);

-- name: invoices_page
-- One page of invoices and credit notes, newest first, filtered. $1 profile id, $2 customer id, $3 status, $4 kind, $5 issued from (date, inclusive), $6 issued to (date, inclusive), $7 before this id (MAX on page 1), $8 page size (each filter NULL: any)
SELECT i.id, i.kind, i.number, i.status, i.error, i.bill_id, i.billing_profile_id,
       i.customer_id, i.corrects_id, c.number AS corrects_number, i.series, i.currency,
       i.issue_date, i.due_date, i.period_start, i.period_end, i.net_total::text AS net_total,
       i.tax_total::text AS tax_total, i.total::text AS total,
       i.credit_applied::text AS credit_applied, i.paid::text AS paid,
       i.credited::text AS credited, i.transferred::text AS transferred,
       i.amount_due::text AS amount_due, i.transferred_to, i.notes, i.issued_at, i.closed_at,
       i.created_at
FROM invoices i LEFT JOIN invoices c ON c.id = i.corrects_id
WHERE ($1::bigint IS NULL OR i.billing_profile_id = $1)
  AND ($2::bigint IS NULL OR i.customer_id = $2)
  AND ($3::text IS NULL OR i.status = $3)
  AND ($4::text IS NULL OR i.kind = $4)
  AND ($5::date IS NULL OR i.issue_date >= $5)
  AND ($6::date IS NULL OR i.issue_date <= $6)
  AND i.id < $7
ORDER BY i.id DESC LIMIT $8;

-- name: invoice_answer
-- One invoice or credit note as the API shows it. $1 invoice id
SELECT i.id, i.kind, i.number, i.status, i.error, i.bill_id, i.billing_profile_id,
       i.customer_id, i.corrects_id, c.number AS corrects_number, i.series, i.currency,
       i.issue_date, i.due_date, i.period_start, i.period_end, i.net_total::text AS net_total,
       i.tax_total::text AS tax_total, i.total::text AS total,
       i.credit_applied::text AS credit_applied, i.paid::text AS paid,
       i.credited::text AS credited, i.transferred::text AS transferred,
       i.amount_due::text AS amount_due, i.transferred_to, i.notes, i.issued_at, i.closed_at,
       i.created_at
FROM invoices i LEFT JOIN invoices c ON c.id = i.corrects_id
WHERE i.id = $1;

-- name: invoice_lines_answer
-- An invoice's lines as the API shows them, in order. $1 invoice id
SELECT number, kind, description, quantity::text AS quantity, unit_price::text AS unit_price,
       net::text AS net, tax, tax_category, tax_rate::text AS tax_rate, ledger, bill_item_id,
       period_start, period_end
FROM invoice_lines WHERE invoice_id = $1 ORDER BY number;

-- name: invoice_taxes_answer
-- An invoice's VAT breakdown as the API shows it. $1 invoice id
SELECT category, rate::text AS rate, taxable::text AS taxable, tax::text AS tax,
       exemption_reason
FROM invoice_taxes WHERE invoice_id = $1 ORDER BY category, rate;

-- name: lock_invoice_to_regenerate
-- An invoice's status and profile, locked (a failed one is made again). $1 invoice id
SELECT id, status, billing_profile_id FROM invoices WHERE id = $1 FOR UPDATE;

-- name: payments_of_profile
-- One page of a profile's payments, newest first. $1 profile id, $2 before this id (MAX on page 1), $3 page size
SELECT id, request_id, billing_profile_id, customer_id, kind, method, provider, reference, note,
       amount::text AS amount, currency, invoice_id, to_credit::text AS to_credit, received_at,
       recorded_by, created_at
FROM payments WHERE billing_profile_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3;

-- name: payment_answer
-- One payment as the API shows it. $1 payment id
SELECT id, request_id, billing_profile_id, customer_id, kind, method, provider, reference, note,
       amount::text AS amount, currency, invoice_id, to_credit::text AS to_credit, received_at,
       recorded_by, created_at
FROM payments WHERE id = $1;

-- name: allocations_answer
-- Where a payment went, as the API shows it: invoice id, its number, amount. $1 payment id
SELECT a.invoice_id, i.number, a.amount::text AS amount FROM payment_allocations a
JOIN invoices i ON i.id = a.invoice_id WHERE a.payment_id = $1 ORDER BY a.invoice_id;

-- name: postpaid_profiles_with_active_bill
-- A customer's postpaid billing profiles that have an active bill (billed at closing). $1 customer id
SELECT p.id FROM billing_profiles p
JOIN bills b ON b.billing_profile_id = p.id AND b.status = 'active'
WHERE p.customer_id = $1 AND p.payment_type = 'postpaid' ORDER BY p.id;
