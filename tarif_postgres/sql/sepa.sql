-- SEPA direct debit (tarif_billing/sepa/, admin_api/sepa.py): mandates, collections and their
-- items, the bank's results.

-- name: adopt_unassigned_mandates
-- Gives the mandates written while no creditor was set (and those of migration 0016) the creditor. $1 creditor id
UPDATE sepa_mandates SET creditor_id = $1, updated_at = now() WHERE creditor_id = '';

-- name: revoke_other_mandates
-- Revokes a customer's active mandate unless it is the named one (NULLs: revokes any). $1 customer id, $2 creditor id, $3 reference
UPDATE sepa_mandates SET status = 'revoked', revoked_at = now(), updated_at = now()
WHERE customer_id = $1 AND status = 'active'
    AND (creditor_id, reference) IS DISTINCT FROM ($2::text, $3::text);

-- name: upsert_mandate
-- Makes the mandate the customer's active one (new, changed or active again); a changed IBAN starts again with FRST. Its id, or no row when another customer holds the reference. $1 creditor id, $2 reference, $3 customer id, $4 IBAN, $5 BIC, $6 signature date
INSERT INTO sepa_mandates (creditor_id, reference, customer_id, iban, bic, signature_date)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (creditor_id, reference) DO UPDATE SET
    iban = EXCLUDED.iban, bic = EXCLUDED.bic, signature_date = EXCLUDED.signature_date,
    status = 'active', revoked_at = NULL, updated_at = now(),
    sequence = CASE WHEN sepa_mandates.iban = EXCLUDED.iban THEN sepa_mandates.sequence
        ELSE 'FRST' END
WHERE sepa_mandates.customer_id = EXCLUDED.customer_id
RETURNING id;

-- name: customer_mandates
-- One page of a customer's mandates, oldest first. $1 customer id, $2 after this id (0 on page 1), $3 page size
SELECT id, creditor_id, reference, iban, bic, signature_date, status, sequence, revoked_at,
    created_at, updated_at
FROM sepa_mandates WHERE customer_id = $1 AND id > $2 ORDER BY id LIMIT $3;

-- name: erase_customer_mandates
-- A deleted customer's mandates: revoked, the account erased (collections keep their XML). $1 customer id
UPDATE sepa_mandates SET status = 'revoked', revoked_at = coalesce(revoked_at, now()),
    iban = '', bic = NULL, updated_at = now()
WHERE customer_id = $1;

-- name: insert_collection
-- A new open collection; its id and message id, or no row when the request id exists. $1 request id, $2 creditor id, $3 collection date, $4 scheme, $5 created by
WITH next AS (SELECT nextval(pg_get_serial_sequence('sepa_collections', 'id')) AS id)
INSERT INTO sepa_collections (id, request_id, message_id, creditor_id, collection_date, scheme,
    created_by)
SELECT id, $1, 'TARIF-SDD-' || id, $2, $3, $4, $5 FROM next
ON CONFLICT (request_id) DO NOTHING
RETURNING id, message_id;

-- name: collection_by_request
-- The collection a request id made. $1 request id
SELECT id, collection_date FROM sepa_collections WHERE request_id = $1;

-- name: take_due_invoices
-- Puts every due invoice of a customer with an active mandate (of these customers, when given) into the collection, once: issued, billing, due by the date, in EUR, not pending in another collection; rows another run holds are skipped. The items' ids. $1 collection id, $2 creditor id, $3 collection date, $4 customer ids (NULL: any)
WITH due AS (
    SELECT i.id, i.billing_profile_id, i.amount_due, m.id AS mandate_id, m.sequence
    FROM invoices i
    JOIN sepa_mandates m ON m.customer_id = i.customer_id AND m.status = 'active'
        AND m.creditor_id = $2
    WHERE i.status = 'billing' AND i.kind = 'invoice' AND i.amount_due > 0
        AND i.number IS NOT NULL AND i.currency = 'EUR' AND coalesce(i.due_date, $3) <= $3
        AND ($4::bigint[] IS NULL OR i.customer_id = ANY($4::bigint[]))
        AND NOT EXISTS (SELECT 1 FROM sepa_collection_items p
            WHERE p.invoice_id = i.id AND p.status = 'pending')
    ORDER BY i.id
    FOR UPDATE OF i SKIP LOCKED
)
INSERT INTO sepa_collection_items (collection_id, invoice_id, mandate_id, billing_profile_id,
    amount, end_to_end_id, sequence_type)
SELECT $1::bigint, id, mandate_id, billing_profile_id, amount_due,
    'SDD' || $1::bigint || '-' || id, sequence
FROM due
ON CONFLICT (invoice_id) WHERE status = 'pending' DO NOTHING
RETURNING id;

-- name: collection_debits
-- What the pain.008 file says of each item: the debit, its mandate, debtor and invoice. $1 collection id
SELECT x.end_to_end_id, x.amount, x.sequence_type, m.reference, m.signature_date, m.iban, m.bic,
    i.number AS invoice_number, coalesce(nullif(c.organisation, ''), c.full_name) AS debtor_name
FROM sepa_collection_items x
JOIN sepa_mandates m ON m.id = x.mandate_id
JOIN invoices i ON i.id = x.invoice_id
JOIN customers c ON c.id = i.customer_id
WHERE x.collection_id = $1 ORDER BY x.id;

-- name: finish_collection
-- Stores the collection's file and totals. $1 collection id, $2 XML, $3 item count, $4 total
UPDATE sepa_collections SET document = $2, item_count = $3, total = $4 WHERE id = $1;

-- name: collections_page
-- One page of collections, newest first. $1 before this id (MAX on page 1), $2 page size
SELECT id, request_id, message_id, creditor_id, collection_date, scheme, status, currency,
    item_count, total::text AS total, created_by, created_at, closed_at
FROM sepa_collections WHERE id < $1 ORDER BY id DESC LIMIT $2;

-- name: collection_by_id
-- One collection as the API shows it. $1 collection id
SELECT id, request_id, message_id, creditor_id, collection_date, scheme, status, currency,
    item_count, total::text AS total, created_by, created_at, closed_at
FROM sepa_collections WHERE id = $1;

-- name: collection_items
-- A collection's items, in file order. $1 collection id
SELECT x.id, x.invoice_id, i.number AS invoice_number, x.mandate_id,
    m.reference AS mandate_reference, x.billing_profile_id, x.amount::text AS amount,
    x.end_to_end_id, x.sequence_type, x.status, x.reason_code, x.payment_id, x.result_at
FROM sepa_collection_items x
JOIN sepa_mandates m ON m.id = x.mandate_id
JOIN invoices i ON i.id = x.invoice_id
WHERE x.collection_id = $1 ORDER BY x.id;

-- name: collection_document
-- A collection's pain.008 XML (no row: no such collection). $1 collection id
SELECT document FROM sepa_collections WHERE id = $1;

-- name: lock_items_by_end_to_end
-- The items a report names (of one collection, or of any), locked until the transaction ends. $1 end-to-end ids, $2 collection id (NULL: any)
SELECT id, collection_id, invoice_id, mandate_id, billing_profile_id, amount, end_to_end_id,
    sequence_type, status, reason_code, payment_id
FROM sepa_collection_items
WHERE end_to_end_id = ANY($1::text[]) AND ($2::bigint IS NULL OR collection_id = $2::bigint)
ORDER BY id FOR UPDATE;

-- name: lock_pending_items_of_message
-- The pending items of a collection (by its message id), of one sequence type or all, locked. $1 message id, $2 sequence type (NULL: all), $3 collection id (NULL: any)
SELECT x.id, x.collection_id, x.invoice_id, x.mandate_id, x.billing_profile_id, x.amount,
    x.end_to_end_id, x.sequence_type, x.status, x.reason_code, x.payment_id
FROM sepa_collection_items x JOIN sepa_collections s ON s.id = x.collection_id
WHERE s.message_id = $1 AND x.status = 'pending'
    AND ($2::text IS NULL OR x.sequence_type = $2::text)
    AND ($3::bigint IS NULL OR s.id = $3::bigint)
ORDER BY x.id FOR UPDATE OF x;

-- name: item_accepted
-- The bank collected the item: the payment recorded for it. $1 item id, $2 payment id, $3 when
UPDATE sepa_collection_items SET status = 'accepted', payment_id = $2, result_at = $3
WHERE id = $1;

-- name: item_rejected
-- The bank rejected the item (the invoice stays due). $1 item id, $2 reason code, $3 when
UPDATE sepa_collection_items SET status = 'rejected', reason_code = $2, result_at = $3
WHERE id = $1;

-- name: mandate_recurring
-- A debit under the mandate was paid: the next ones are RCUR. $1 mandate id
UPDATE sepa_mandates SET sequence = 'RCUR', updated_at = now()
WHERE id = $1 AND sequence = 'FRST';

-- name: close_answered_collections
-- Closes those of the collections whose every item has the bank's result. $1 collection ids
UPDATE sepa_collections s SET status = 'closed', closed_at = now()
WHERE s.id = ANY($1::bigint[]) AND s.status = 'open'
    AND NOT EXISTS (SELECT 1 FROM sepa_collection_items x
        WHERE x.collection_id = s.id AND x.status = 'pending');

-- name: item_returned
-- The bank gave back a debit it had paid: the item returned, its payment reversed.
-- $1 item id, $2 reason code, $3 reversal payment id, $4 when
UPDATE sepa_collection_items SET status = 'returned', reason_code = $2, reversal_id = $3,
    returned_at = $4
WHERE id = $1;
