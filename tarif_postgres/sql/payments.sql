-- Payments: recording, allocation to invoices, credit balance (tarif_billing/payments.py).

-- name: payment_by_request
-- A payment recorded before under this request id. $1 request id
SELECT * FROM payments WHERE request_id = $1;

-- name: allocations_of_payment
-- Where a payment went: invoice id, its number, amount. $1 payment id
SELECT a.invoice_id, i.number, a.amount FROM payment_allocations a
JOIN invoices i ON i.id = a.invoice_id WHERE a.payment_id = $1 ORDER BY a.invoice_id;

-- name: lock_profile_for_payment
-- The billing profile a payment is for, locked (its credit balance and pending total move). $1 profile id
SELECT id, customer_id, currency, credit_balance, pending_total FROM billing_profiles
WHERE id = $1 FOR UPDATE;

-- name: lock_invoice_for_payment
-- The invoice a payment names, locked. $1 invoice id
SELECT id, billing_profile_id, bill_id, kind, status, number, amount_due, currency
FROM invoices WHERE id = $1 FOR UPDATE;

-- name: due_invoices_for_payment
-- A profile's due invoices, oldest due first, locked. $1 profile id
SELECT id, bill_id, number, amount_due FROM invoices
WHERE billing_profile_id = $1 AND status = 'billing' AND kind = 'invoice' AND amount_due > 0
ORDER BY due_date, id FOR UPDATE;

-- name: insert_payment
-- A payment; nothing when the request id exists already. $1 request id, $2 profile id, $3 customer id, $4 kind, $5 method, $6 provider, $7 reference, $8 note, $9 amount, $10 currency, $11 invoice id, $12 to credit, $13 received at, $14 recorded by
INSERT INTO payments (request_id, billing_profile_id, customer_id, kind, method, provider,
                      reference, note, amount, currency, invoice_id, to_credit, received_at,
                      recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (request_id) DO NOTHING
RETURNING *;

-- name: insert_allocations
-- What a payment paid of each invoice. $1 payment id, $2 invoice ids, $3 amounts
INSERT INTO payment_allocations (payment_id, invoice_id, amount)
SELECT $1, * FROM unnest($2::bigint[], $3::numeric[]);

-- name: pay_invoices
-- Invoices paid by these amounts; nothing left due closes them. $1 invoice ids, $2 amounts
UPDATE invoices i SET paid = i.paid + u.amount,
       status = CASE WHEN i.amount_due - u.amount <= 0 THEN 'closed' ELSE i.status END,
       closed_at = CASE WHEN i.amount_due - u.amount <= 0 THEN now() ELSE i.closed_at END,
       updated_at = now()
FROM unnest($1::bigint[], $2::numeric[]) AS u(id, amount)
WHERE i.id = u.id;

-- name: pay_bills
-- Their bills follow: amount due down, closed when nothing is due. $1 bill ids, $2 amounts
UPDATE bills b SET amount_due = b.amount_due - u.amount,
       status = CASE WHEN b.amount_due - u.amount <= 0 THEN 'closed' ELSE b.status END,
       closed_at = CASE WHEN b.amount_due - u.amount <= 0 THEN now() ELSE b.closed_at END
FROM unnest($1::bigint[], $2::numeric[]) AS u(id, amount)
WHERE b.id = u.id;

-- name: lock_payment
-- A payment, locked (it is being reversed). $1 payment id
SELECT * FROM payments WHERE id = $1 FOR UPDATE;

-- name: reversal_of
-- The reversal of a payment, if it was reversed. $1 payment id
SELECT * FROM payments WHERE reverses_id = $1;

-- name: insert_reversal
-- The reversal of a payment. $1 request id, $2 payment reversed, $3 note, $4 credit taken back, $5 when, $6 recorded by
INSERT INTO payments (request_id, billing_profile_id, customer_id, kind, method, provider,
                      reference, note, amount, currency, invoice_id, to_credit, received_at,
                      recorded_by, reverses_id)
SELECT $1, p.billing_profile_id, p.customer_id, 'reversal', p.method, p.provider, p.reference,
       $3, p.amount, p.currency, p.invoice_id, $4, $5, $6, p.id
FROM payments p WHERE p.id = $2
ON CONFLICT DO NOTHING
RETURNING *;

-- name: unpay_invoices
-- Invoices paid less by these amounts (a reversed payment): due again, so open again.
-- $1 invoice ids, $2 amounts
UPDATE invoices i SET paid = i.paid - u.amount,
       status = CASE WHEN i.amount_due + u.amount > 0 THEN 'billing' ELSE i.status END,
       closed_at = CASE WHEN i.amount_due + u.amount > 0 THEN NULL ELSE i.closed_at END,
       updated_at = now()
FROM unnest($1::bigint[], $2::numeric[]) AS u(id, amount)
WHERE i.id = u.id;

-- name: unpay_bills
-- Their bills follow: amount due up, open again. $1 invoice ids, $2 amounts
UPDATE bills b SET amount_due = b.amount_due + u.amount,
       status = CASE WHEN b.amount_due + u.amount > 0 THEN 'billing' ELSE b.status END,
       closed_at = CASE WHEN b.amount_due + u.amount > 0 THEN NULL ELSE b.closed_at END
FROM unnest($1::bigint[], $2::numeric[]) AS u(id, amount)
JOIN invoices i ON i.id = u.id
WHERE b.id = i.bill_id;

-- name: payments_by_requests
-- Which of these request ids were recorded before. $1 request ids
SELECT request_id FROM payments WHERE request_id = ANY($1::text[]);

-- name: lock_profiles_for_payments
-- The billing profiles of a batch of payments, locked in id order. $1 profile ids
SELECT id, customer_id, currency FROM billing_profiles WHERE id = ANY($1::bigint[])
ORDER BY id FOR UPDATE;

-- name: lock_invoices_for_payments
-- The invoices a batch of payments names, locked in id order. $1 invoice ids
SELECT id, billing_profile_id, bill_id, kind, status, amount_due FROM invoices
WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE;

-- name: insert_payments
-- A batch of charges, each paying its invoice in full or in part (nothing to credit), in the arrays' order; their ids in that order. $1 request ids, $2 profile ids, $3 customer ids, $4 methods, $5 providers, $6 references, $7 notes, $8 amounts, $9 currencies, $10 invoice ids, $11 received at, $12 recorded by
INSERT INTO payments (request_id, billing_profile_id, customer_id, kind, method, provider,
                      reference, note, amount, currency, invoice_id, to_credit, received_at,
                      recorded_by)
SELECT r, b, c, 'charge', m, p, f, n, a, cur, i, 0, at, by
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::numeric[], $9::text[], $10::bigint[], $11::timestamptz[],
            $12::text[]) WITH ORDINALITY AS u(r, b, c, m, p, f, n, a, cur, i, at, by, o)
ORDER BY o
RETURNING id;

-- name: insert_allocations_of_payments
-- What each payment of a batch paid of its invoice. $1 payment ids, $2 invoice ids, $3 amounts
INSERT INTO payment_allocations (payment_id, invoice_id, amount)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::numeric[]);
