-- Invoices and credit notes: issuing, numbering, the journal (tarif_billing/issuing.py).

-- name: all_taxes
-- Every tax of the reference data: name, rate (percent), category, exemption_reason.
SELECT name, rate, category, exemption_reason FROM taxes;

-- name: buyers
-- The customers invoices are made out to. $1 customer ids
SELECT id, first_name, last_name, organisation, email, address, city, postcode, country,
       payment_method, payment_info
FROM customers WHERE id = ANY($1::bigint[]);

-- name: hierarchy_owners
-- For members of an active hierarchy group: the owner's billing profile that becomes liable. $1 customer ids
SELECT m.customer_id, h.billing_profile_id, h.owner_id
FROM hierarchy_members m JOIN hierarchy_groups h ON h.id = m.group_id
WHERE m.customer_id = ANY($1::bigint[]) AND h.status = 'active';

-- name: ensure_series
-- A number series' counter row. $1 series
INSERT INTO invoice_series (name) VALUES ($1) ON CONFLICT DO NOTHING;

-- name: allocate_numbers
-- Takes $2 consecutive numbers of series $1, locking its counter until commit: returns the first. $1 series, $2 how many
UPDATE invoice_series SET next_number = next_number + $2 WHERE name = $1
RETURNING next_number - $2;

-- name: insert_invoices
-- Invoices and credit notes being issued (or failed): returns each one's id with its bill. $1 kinds, $2 bill ids, $3 profile ids, $4 customer ids, $5 corrects ids, $6 series, $7 seqs, $8 numbers, $9 statuses, $10 errors, $11 currencies, $12 decimals, $13 issue dates, $14 due dates, $15 period starts, $16 period ends, $17 sellers, $18 buyers, $19 net totals, $20 tax totals, $21 totals, $22 credits applied, $23 transferred, $24 transferred to, $25 notes (JSON arrays of text)
INSERT INTO invoices (kind, bill_id, billing_profile_id, customer_id, corrects_id, series, seq,
                      number, status, error, currency, decimals, issue_date, due_date,
                      period_start, period_end, seller, buyer, net_total, tax_total, total,
                      credit_applied, transferred, transferred_to, notes)
SELECT k, b, p, c, cr, se, sq, nu, st, er, cu, de, iss, due, ps, pe, sel, buy, nt, tt, tot, ca,
       tr, trt, ARRAY(SELECT jsonb_array_elements_text(no::jsonb))
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[],
            $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], $12::smallint[],
            $13::date[], $14::date[], $15::date[], $16::date[], $17::jsonb[], $18::jsonb[],
            $19::numeric[], $20::numeric[], $21::numeric[], $22::numeric[], $23::numeric[],
            $24::bigint[], $25::text[])
     AS u(k, b, p, c, cr, se, sq, nu, st, er, cu, de, iss, due, ps, pe, sel, buy, nt, tt, tot,
          ca, tr, trt, no)
RETURNING id, bill_id, kind;

-- name: refill_invoice
-- A failed invoice made again: its figures and number (its lines follow). $1 id, $2 series, $3 seq, $4 number, $5 status, $6 issue date, $7 due date, $8 seller, $9 buyer, $10 net total, $11 tax total, $12 total, $13 credit applied, $14 transferred, $15 transferred to, $16 notes (JSON array)
UPDATE invoices SET series = $2, seq = $3, number = $4, status = $5, error = NULL,
       issue_date = $6, due_date = $7, seller = $8, buyer = $9, net_total = $10,
       tax_total = $11, total = $12, credit_applied = $13, transferred = $14,
       transferred_to = $15, notes = ARRAY(SELECT jsonb_array_elements_text($16::text::jsonb)),
       updated_at = now()
WHERE id = $1 AND issued_at IS NULL;

-- name: record_failure
-- A failed invoice's new error (made again, still not issuable). $1 id, $2 error
UPDATE invoices SET error = $2, updated_at = now() WHERE id = $1 AND issued_at IS NULL;

-- name: insert_invoice_lines
-- The lines of invoices being issued; amounts as text (the driver's binary numeric encoding costs a run several times more). $1 invoice ids, $2 numbers, $3 kinds, $4 descriptions, $5 quantities, $6 unit prices, $7 nets, $8 taxes, $9 categories, $10 rates, $11 ledgers, $12 bill item ids, $13 period starts, $14 period ends
INSERT INTO invoice_lines (invoice_id, number, kind, description, quantity, unit_price, net, tax,
                           tax_category, tax_rate, ledger, bill_item_id, period_start, period_end)
SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[]::numeric[],
                     $6::text[]::numeric[], $7::text[]::numeric[], $8::text[], $9::text[],
                     $10::text[]::numeric[], $11::text[], $12::bigint[], $13::date[],
                     $14::date[]);

-- name: insert_invoice_taxes
-- The VAT breakdown of invoices being issued; amounts as text. $1 invoice ids, $2 categories, $3 rates, $4 taxable amounts, $5 tax amounts, $6 exemption reasons
INSERT INTO invoice_taxes (invoice_id, category, rate, taxable, tax, exemption_reason)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]::numeric[], $4::text[]::numeric[],
                     $5::text[]::numeric[], $6::text[]);

-- name: mark_issued
-- The invoices are issued: from now on Postgres refuses changes to them. $1 invoice ids
UPDATE invoices SET issued_at = now(),
       status = CASE WHEN total - credit_applied - paid - credited - transferred <= 0
                     THEN 'closed' ELSE 'billing' END,
       closed_at = CASE WHEN total - credit_applied - paid - credited - transferred <= 0
                        THEN now() END
WHERE id = ANY($1::bigint[]) AND issued_at IS NULL;

-- name: move_profile_money
-- Profiles' pending total and credit balance move by these amounts. $1 profile ids, $2 pending deltas, $3 credit deltas
UPDATE billing_profiles p SET pending_total = p.pending_total + u.pending,
       credit_balance = p.credit_balance + u.credit, updated_at = now()
FROM (SELECT id, sum(pending) AS pending, sum(credit) AS credit
      FROM unnest($1::bigint[], $2::numeric[], $3::numeric[]) AS x(id, pending, credit)
      GROUP BY id) u
WHERE p.id = u.id;

-- name: insert_journal_transactions
-- Journal transactions: returns each id with its position in the arrays. $1 kinds, $2 invoice ids, $3 payment ids, $4 currencies
INSERT INTO journal_transactions (kind, invoice_id, payment_id, currency)
SELECT k, i, p, c FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])
     WITH ORDINALITY AS u(k, i, p, c, n)
ORDER BY n
RETURNING id;

-- name: insert_journal_lines
-- Journal lines; amounts as text. $1 transaction ids, $2 accounts, $3 profile ids, $4 debits, $5 credits
INSERT INTO journal_lines (transaction_id, account, billing_profile_id, debit, credit)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]::numeric[],
                     $5::text[]::numeric[]);

-- name: failed_invoices
-- Failed invoices to make again (one profile, or all) with their bill and profile, locked; others' locked ones are skipped. $1 profile id (NULL: all), $2 how many
SELECT i.id AS invoice_id, b.id AS bill_id, b.billing_profile_id, b.customer_id, b.currency,
       b.period_start, b.period_end, p.time_zone, p.tax, p.payment_terms_days, p.credit_balance
FROM invoices i
JOIN bills b ON b.id = i.bill_id
JOIN billing_profiles p ON p.id = b.billing_profile_id
WHERE i.status = 'failed' AND ($1::bigint IS NULL OR i.billing_profile_id = $1)
ORDER BY i.id LIMIT $2
FOR UPDATE OF i, p SKIP LOCKED;

-- name: invoice_by_id
-- One invoice or credit note with its customer's account number and the number it corrects. $1 id
SELECT i.*, c.number AS corrects_number FROM invoices i
LEFT JOIN invoices c ON c.id = i.corrects_id
WHERE i.id = $1;

-- name: invoice_lines_of
-- An invoice's lines in order. $1 invoice id
SELECT * FROM invoice_lines WHERE invoice_id = $1 ORDER BY number;

-- name: invoice_taxes_of
-- An invoice's VAT breakdown. $1 invoice id
SELECT * FROM invoice_taxes WHERE invoice_id = $1 ORDER BY category, rate;

-- name: tax_by_name
-- One tax of the reference data. $1 name
SELECT name, rate, category, exemption_reason FROM taxes WHERE name = $1;

-- name: ledger_exists
-- Whether a ledger exists. $1 name
SELECT EXISTS (SELECT 1 FROM ledgers WHERE name = $1);

-- name: settle_credit_note
-- A credit note is applied in full when issued: nothing is due on it. $1 credit note id
UPDATE invoices SET credited = total WHERE id = $1 AND issued_at IS NULL;

-- name: credit_invoice
-- A credit note lowers what is due on the invoice it corrects; nothing left closes it and its bill. $1 invoice id, $2 amount
WITH credited AS (
    UPDATE invoices SET credited = credited + $2,
           status = CASE WHEN amount_due - $2 <= 0 THEN 'closed' ELSE status END,
           closed_at = CASE WHEN amount_due - $2 <= 0 THEN now() ELSE closed_at END,
           updated_at = now()
    WHERE id = $1
    RETURNING bill_id
)
UPDATE bills b SET amount_due = b.amount_due - $2,
       status = CASE WHEN b.amount_due - $2 <= 0 THEN 'closed' ELSE b.status END,
       closed_at = CASE WHEN b.amount_due - $2 <= 0 THEN now() ELSE b.closed_at END
FROM credited c WHERE b.id = c.bill_id;
