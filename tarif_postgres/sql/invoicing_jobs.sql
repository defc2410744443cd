-- The invoicing job (billing_batch/jobs/invoicing.py, docs/jobs-invoicing.md): failed invoices
-- made again and issued invoices e-mailed, for the customers a job's criteria select. Each
-- query takes a `{criteria}` slot filled from code (tarif_jobs.criteria: a condition on
-- customers c whose values are bind parameters numbered after the query's own).

-- name: failed_invoices_of_customers
-- Failed invoices of customers the criteria select (or the ones a retry names), in id order after $2, with their bill and profile, locked (others' locked ones are skipped). Slots from code: {criteria}. $1 invoice ids (NULL: any), $2 after this id, $3 how many
SELECT i.id AS invoice_id, b.id AS bill_id, b.billing_profile_id, b.customer_id, b.currency,
       b.period_start, b.period_end, p.time_zone, p.tax, p.payment_terms_days, p.credit_balance
FROM invoices i
JOIN bills b ON b.id = i.bill_id
JOIN billing_profiles p ON p.id = b.billing_profile_id
JOIN customers c ON c.id = i.customer_id
WHERE i.status = 'failed' AND i.id > $2
  AND ($1::bigint[] IS NULL OR i.id = ANY($1::bigint[]))
  AND {criteria}
ORDER BY i.id
LIMIT $3
FOR UPDATE OF i, p SKIP LOCKED;

-- name: invoices_to_email
-- Issued invoices and credit notes of customers the criteria select (or the ones a retry names) whose e-mail is not sent yet, issued by the "process now" date in their profile's time zone, in id order after $3. Slots from code: {criteria}. $1 process now, $2 invoice ids (NULL: any), $3 after this id, $4 how many
SELECT i.id
FROM invoices i
JOIN billing_profiles p ON p.id = i.billing_profile_id
JOIN customers c ON c.id = i.customer_id
WHERE i.email_pending AND i.issued_at IS NOT NULL AND i.id > $3
  AND ($2::bigint[] IS NULL OR i.id = ANY($2::bigint[]))
  AND i.issue_date <= timezone(p.time_zone, $1::timestamptz)::date
  AND {criteria}
ORDER BY i.id
LIMIT $4;
