-- Card payment attempts (tarif_billing/gateway/attempts.py, billing_batch/jobs/payment_collection.py,
-- admin_api/payment_attempts.py): claimed before the charge is sent, settled after.

-- name: claim_due_invoices
-- The next chunk of due invoices of card customers (issued, billing, amount due > 0, due by "process now" in the profile's time zone, after invoice $1) that may be charged now: never tried, or the last attempt succeeded, or failed and is due again by the schedule ($3: a retry of these invoices, whatever the schedule), or the card changed since a decline. A pending attempt is opened for each (one per invoice: the unique index refuses a second); after an error the attempt sends the same charge again (key, token, amount). Answers the attempts made, with the last invoice id looked at (NULL: nothing left). Slots from code: {criteria} the job's customer condition on `c`. $1 after invoice id, $2 process now, $3 only these invoice ids (NULL: any), $4 chunk size, $5 run id, $6 claim seconds, criteria values from $7
WITH due AS (
    SELECT i.id AS invoice_id, i.billing_profile_id, i.customer_id, i.number,
        CASE WHEN last.status = 'error' THEN last.idempotency_key
            ELSE 'tarif-' || i.id || '-' || (coalesce(last.attempt, 0) + 1) END AS idempotency_key,
        CASE WHEN last.status = 'error' THEN last.token ELSE c.payment_info ->> 'token' END AS token,
        CASE WHEN last.status = 'error' THEN last.gateway
            ELSE coalesce(c.payment_info ->> 'gateway', '') END AS gateway,
        CASE WHEN last.status = 'error' THEN last.amount ELSE i.amount_due END AS amount,
        CASE WHEN last.status = 'error' THEN last.currency ELSE i.currency END AS currency,
        coalesce(last.attempt, 0) + 1 AS attempt
    FROM invoices i
    JOIN customers c ON c.id = i.customer_id
    JOIN billing_profiles p ON p.id = i.billing_profile_id
    LEFT JOIN LATERAL (
        SELECT a.attempt, a.status, a.idempotency_key, a.token, a.gateway, a.amount, a.currency,
            a.next_retry_at
        FROM payment_attempts a WHERE a.invoice_id = i.id ORDER BY a.attempt DESC LIMIT 1
    ) last ON true
    WHERE i.id > $1 AND i.status = 'billing' AND i.kind = 'invoice' AND i.amount_due > 0
        AND i.number IS NOT NULL
        AND i.due_date <= ($2::timestamptz AT TIME ZONE p.time_zone)::date
        AND c.payment_method = 'credit_card' AND c.status <> 'deleted'
        AND c.payment_info ? 'token'
        AND ($3::bigint[] IS NULL OR i.id = ANY($3::bigint[]))
        AND (last.status IS NULL OR last.status = 'succeeded'
            OR (last.status IN ('declined', 'error') AND ($3::bigint[] IS NOT NULL
                OR last.next_retry_at <= $2::timestamptz
                OR (last.status = 'declined'
                    AND last.token IS DISTINCT FROM c.payment_info ->> 'token'))))
        AND {criteria}
    ORDER BY i.id
    LIMIT $4
    FOR UPDATE OF i SKIP LOCKED
),
made AS (
    INSERT INTO payment_attempts (invoice_id, billing_profile_id, customer_id, attempt,
        idempotency_key, gateway, token, amount, currency, process_now, trigger, run_id,
        claimed_until)
    SELECT invoice_id, billing_profile_id, customer_id, attempt, idempotency_key, gateway, token,
        amount, currency, $2::timestamptz, 'job', $5::bigint,
        now() + make_interval(secs => $6::float8)
    FROM due
    ON CONFLICT DO NOTHING
    RETURNING id, invoice_id, billing_profile_id, attempt, idempotency_key, gateway, token,
        amount, currency
)
SELECT s.scanned_to, m.id, m.invoice_id, m.billing_profile_id, d.number, m.attempt,
    m.idempotency_key, m.gateway, m.token, m.amount, m.currency
FROM (SELECT max(invoice_id) AS scanned_to FROM due) s
LEFT JOIN made m ON true
LEFT JOIN due d ON d.invoice_id = m.invoice_id
ORDER BY m.invoice_id;

-- name: claim_unfinished
-- The next pending attempts left by a crash (this run's, resumed; or another's whose claim ran out), after attempt $5, of customers the criteria select, claimed again to be sent under their own key. Slots from code: {criteria} the job's customer condition on `c`. $1 run id, $2 only these invoice ids (NULL: any), $3 claim seconds, $4 at most, $5 after attempt id, criteria values from $6
UPDATE payment_attempts a SET claimed_until = now() + make_interval(secs => $3::float8),
    run_id = $1::bigint, updated_at = now()
FROM (
    SELECT x.id, i.number FROM payment_attempts x
    JOIN invoices i ON i.id = x.invoice_id
    JOIN customers c ON c.id = x.customer_id
    WHERE x.status = 'pending' AND x.id > $5::bigint
        AND (x.run_id = $1::bigint OR x.claimed_until < now())
        AND ($2::bigint[] IS NULL OR x.invoice_id = ANY($2::bigint[]))
        AND {criteria}
    ORDER BY x.id LIMIT $4
    FOR UPDATE OF x SKIP LOCKED
) s
WHERE a.id = s.id
RETURNING a.id, a.invoice_id, a.billing_profile_id, s.number, a.attempt, a.idempotency_key,
    a.gateway, a.token, a.amount, a.currency;

-- name: lock_pending
-- Of these attempts, those still pending, locked until the settling transaction ends (another run settling one meanwhile: it is no longer pending). $1 attempt ids
SELECT id FROM payment_attempts WHERE id = ANY($1::bigint[]) AND status = 'pending'
ORDER BY id FOR UPDATE;

-- name: failures_of_invoices
-- How many attempts of each invoice failed (declined or error), this one included. $1 invoice ids
SELECT invoice_id, count(*) AS failures FROM payment_attempts
WHERE invoice_id = ANY($1::bigint[]) AND status IN ('declined', 'error')
GROUP BY invoice_id;

-- name: settle_succeeded
-- Approved and recorded. $1 attempt ids, $2 charge ids, $3 payment ids, $4 sends
UPDATE payment_attempts a SET status = 'succeeded', charge_id = u.charge_id,
    payment_id = u.payment_id, sends = a.sends + u.sends, claimed_until = NULL,
    code = NULL, message = NULL, updated_at = now(), finished_at = now()
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[]) AS u(id, charge_id, payment_id, sends)
WHERE a.id = u.id AND a.status = 'pending';

-- name: settle_failed
-- Declined or errored: the code, message, the next try by the schedule. $1 attempt ids, $2 statuses, $3 codes, $4 messages, $5 next retry at, $6 gave up, $7 sends
UPDATE payment_attempts a SET status = u.status, code = u.code, message = u.message,
    next_retry_at = u.next_retry_at, gave_up = u.gave_up, sends = a.sends + u.sends,
    claimed_until = NULL, updated_at = now(), finished_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[],
            $7::int[]) AS u(id, status, code, message, next_retry_at, gave_up, sends)
WHERE a.id = u.id AND a.status = 'pending';

-- name: count_sends
-- Sends made of a pending attempt whose answer could not be recorded (it stays pending), and why. $1 attempt ids, $2 sends, $3 messages
UPDATE payment_attempts a SET sends = a.sends + u.sends, message = u.message, updated_at = now()
FROM unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, sends, message)
WHERE a.id = u.id AND a.status = 'pending';

-- name: lock_attempt_for_retry
-- An attempt an operator retries, locked, with whether it is its invoice's latest, the invoice's state and the customer's card. $1 attempt id
SELECT a.id, a.invoice_id, a.billing_profile_id, a.customer_id, a.attempt, a.status,
    a.idempotency_key, a.gateway, a.token, a.amount, a.currency,
    a.attempt = (SELECT max(x.attempt) FROM payment_attempts x WHERE x.invoice_id = a.invoice_id)
        AS latest,
    i.number, i.status AS invoice_status, i.kind, i.amount_due, i.currency AS invoice_currency,
    c.payment_method, c.payment_info ->> 'token' AS card_token,
    coalesce(c.payment_info ->> 'gateway', '') AS card_gateway
FROM payment_attempts a
JOIN invoices i ON i.id = a.invoice_id
JOIN customers c ON c.id = a.customer_id
WHERE a.id = $1
FOR UPDATE OF a;

-- name: insert_retry
-- The attempt an operator's retry opens (pending, sent at once). $1 invoice id, $2 profile id, $3 customer id, $4 attempt number, $5 idempotency key, $6 gateway, $7 token, $8 amount, $9 currency, $10 requested by, $11 claim seconds
INSERT INTO payment_attempts (invoice_id, billing_profile_id, customer_id, attempt,
    idempotency_key, gateway, token, amount, currency, process_now, trigger, requested_by,
    claimed_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), 'retry', $10,
    now() + make_interval(secs => $11::float8))
ON CONFLICT DO NOTHING
RETURNING id;

-- name: attempts_page
-- One page of attempts, newest first, filtered. $1 invoice id, $2 status, $3 created from (inclusive), $4 created before (exclusive), $5 before this id (MAX on page 1), $6 page size (each filter NULL: any)
SELECT a.id, a.invoice_id, i.number AS invoice_number, a.billing_profile_id, a.customer_id,
    a.attempt, a.status, a.code, a.message, a.amount::text AS amount, a.currency, a.gateway,
    a.charge_id, a.payment_id, a.sends, a.next_retry_at, a.gave_up, a.process_now, a.trigger,
    a.run_id, a.requested_by, a.created_at, a.finished_at
FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id
WHERE ($1::bigint IS NULL OR a.invoice_id = $1)
  AND ($2::text IS NULL OR a.status = $2)
  AND ($3::timestamptz IS NULL OR a.created_at >= $3)
  AND ($4::timestamptz IS NULL OR a.created_at < $4)
  AND a.id < $5
ORDER BY a.id DESC LIMIT $6;

-- name: attempt_answer
-- One attempt as the API shows it. $1 attempt id
SELECT a.id, a.invoice_id, i.number AS invoice_number, a.billing_profile_id, a.customer_id,
    a.attempt, a.status, a.code, a.message, a.amount::text AS amount, a.currency, a.gateway,
    a.charge_id, a.payment_id, a.sends, a.next_retry_at, a.gave_up, a.process_now, a.trigger,
    a.run_id, a.requested_by, a.created_at, a.finished_at
FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id
WHERE a.id = $1;

-- name: direct_debit_without_mandate
-- Due invoices of direct-debit customers the criteria select who have no active mandate of the creditor (no collection can take them). Slots from code: {criteria} the job's customer condition on `c`. $1 creditor id, $2 collection date, criteria values from $3
SELECT i.id, i.number, c.id AS customer_id FROM invoices i
JOIN customers c ON c.id = i.customer_id
WHERE i.status = 'billing' AND i.kind = 'invoice' AND i.amount_due > 0 AND i.number IS NOT NULL
    AND i.currency = 'EUR' AND coalesce(i.due_date, $2::date) <= $2::date
    AND c.payment_method = 'direct_debit' AND c.status <> 'deleted'
    AND NOT EXISTS (SELECT 1 FROM sepa_mandates m WHERE m.customer_id = c.id
        AND m.status = 'active' AND m.creditor_id IN ($1::text, ''))
    AND {criteria}
ORDER BY i.id;

-- name: direct_debit_customers
-- The direct-debit customers the criteria select (their due invoices go to a SEPA collection). Slots from code: {criteria} the job's customer condition on `c`. criteria values from $1
SELECT c.id FROM customers c
WHERE c.payment_method = 'direct_debit' AND c.status <> 'deleted' AND {criteria};

-- name: card_invoices_due
-- How many invoices of card customers the criteria select are due by "process now" (to say so when no gateway is configured). Slots from code: {criteria} the job's customer condition on `c`. $1 process now, criteria values from $2
SELECT count(*) FROM invoices i
JOIN customers c ON c.id = i.customer_id
JOIN billing_profiles p ON p.id = i.billing_profile_id
WHERE i.status = 'billing' AND i.kind = 'invoice' AND i.amount_due > 0 AND i.number IS NOT NULL
    AND i.due_date <= ($1::timestamptz AT TIME ZONE p.time_zone)::date
    AND c.payment_method = 'credit_card' AND c.status <> 'deleted' AND {criteria};

-- name: direct_debit_due
-- How many due invoices (EUR, by the collection date) these customers have under an active mandate, in no open collection (to say so when no creditor is configured). $1 customer ids, $2 collection date
SELECT count(*) FROM invoices i
WHERE i.customer_id = ANY($1::bigint[]) AND i.status = 'billing' AND i.kind = 'invoice'
    AND i.amount_due > 0 AND i.number IS NOT NULL AND i.currency = 'EUR'
    AND coalesce(i.due_date, $2::date) <= $2::date
    AND EXISTS (SELECT 1 FROM sepa_mandates m WHERE m.customer_id = i.customer_id
        AND m.status = 'active')
    AND NOT EXISTS (SELECT 1 FROM sepa_collection_items x
        WHERE x.invoice_id = i.id AND x.status = 'pending');
