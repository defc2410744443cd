-- Billing reconciliation: amounts that must agree, each query answering only disagreements (tarif_billing/reconcile.py).

-- name: usage_vs_items
-- Profiles billed in the period whose billed usage items differ from the money of the rated records their bills took (every record before the profile's usage limit that its last snapshot saw and no usage bill collected, and every record a usage bill collected). $1 from, $2 to
WITH profiles AS (
    SELECT p.id, p.usage_until, p.usage_snapshot
    FROM billing_profiles p
    WHERE p.usage_until IS NOT NULL
      AND EXISTS (SELECT 1 FROM bills b WHERE b.billing_profile_id = p.id
                  AND b.billed_at >= $1 AND b.billed_at < $2)
), rated AS (
    SELECT p.id, coalesce(sum(e.cost), 0) AS amount
    FROM profiles p
    JOIN balance_groups g ON g.billing_profile_id = p.id
    JOIN rated_events e ON e.account_id = g.account_id
    WHERE e.kind IN ('event', 'update', 'end', 'expired', 'refund')
      AND ((e.collected_bill_id IS NULL AND e.event_time < p.usage_until
            AND pg_visible_in_snapshot(e.ingest_xid::text::xid8, p.usage_snapshot))
           OR e.collected_bill_id IS NOT NULL)
    GROUP BY p.id
), billed AS (
    SELECT p.id, coalesce(sum(i.amount), 0) AS amount
    FROM profiles p
    JOIN bills b ON b.billing_profile_id = p.id AND b.status IN ('billing', 'closed')
    JOIN bill_items i ON i.bill_id = b.id AND i.kind = 'usage'
    GROUP BY p.id
)
SELECT p.id AS billing_profile_id, coalesce(r.amount, 0) AS rated, coalesce(b.amount, 0) AS billed
FROM profiles p LEFT JOIN rated r ON r.id = p.id LEFT JOIN billed b ON b.id = p.id
WHERE coalesce(r.amount, 0) <> coalesce(b.amount, 0);

-- name: bills_vs_invoices
-- Bills billed in the period whose figures differ from their invoice's (total; due lines = invoice net), or whose invoice failed. $1 from, $2 to
SELECT b.id AS bill_id, i.id AS invoice_id, i.status, b.total AS bill_total,
       i.total AS invoice_total, d.net AS items_net, i.net_total AS invoice_net
FROM bills b
LEFT JOIN invoices i ON i.bill_id = b.id AND i.kind = 'invoice'
LEFT JOIN LATERAL (
    SELECT coalesce(sum(x.amount), 0) AS net FROM bill_items x
    WHERE x.bill_id = b.id AND NOT x.informational AND x.kind <> 'tax'
) d ON true
WHERE b.billed_at >= $1 AND b.billed_at < $2
  AND (i.status = 'failed'
       OR (i.id IS NOT NULL AND (b.total <> i.total OR d.net <> i.net_total))
       OR (i.id IS NULL AND d.net <> 0));

-- name: lines_vs_totals
-- Invoices issued in the period whose lines, VAT breakdown and totals do not add up. $1 from, $2 to
SELECT i.id AS invoice_id, i.number, i.net_total, l.net, i.tax_total, t.tax, i.total
FROM invoices i
LEFT JOIN LATERAL (SELECT coalesce(sum(net), 0) AS net FROM invoice_lines
                   WHERE invoice_id = i.id) l ON true
LEFT JOIN LATERAL (SELECT coalesce(sum(tax), 0) AS tax FROM invoice_taxes
                   WHERE invoice_id = i.id) t ON true
WHERE i.issued_at >= $1 AND i.issued_at < $2
  AND (l.net <> i.net_total OR t.tax <> i.tax_total OR i.total <> i.net_total + i.tax_total);

-- name: payments_vs_paid
-- Invoices whose recorded payments differ from their allocations, and charges (reversals) whose amount is not allocations + credit (given back). $1 from, $2 to
SELECT 'invoice' AS what, i.id, i.paid AS recorded, coalesce(sum(a.amount), 0) AS allocated
FROM invoices i LEFT JOIN payment_allocations a ON a.invoice_id = i.id
WHERE i.issued_at >= $1 AND i.issued_at < $2
GROUP BY i.id HAVING i.paid <> coalesce(sum(a.amount), 0)
UNION ALL
SELECT 'payment', p.id, p.amount, coalesce(sum(a.amount), 0) + p.to_credit
FROM payments p LEFT JOIN payment_allocations a ON a.payment_id = p.id
WHERE p.kind = 'charge' AND p.received_at >= $1 AND p.received_at < $2
GROUP BY p.id HAVING p.amount <> coalesce(sum(a.amount), 0) + p.to_credit
UNION ALL
SELECT 'reversal', p.id, p.amount, -coalesce(sum(a.amount), 0) + p.to_credit
FROM payments p LEFT JOIN payment_allocations a ON a.payment_id = p.id
WHERE p.kind = 'reversal' AND p.received_at >= $1 AND p.received_at < $2
GROUP BY p.id HAVING p.amount <> -coalesce(sum(a.amount), 0) + p.to_credit;

-- name: unbalanced_journal
-- Journal transactions posted in the period whose debits and credits differ. $1 from, $2 to
SELECT t.id, sum(l.debit) AS debit, sum(l.credit) AS credit
FROM journal_transactions t JOIN journal_lines l ON l.transaction_id = t.id
WHERE t.posted_at >= $1 AND t.posted_at < $2
GROUP BY t.id HAVING sum(l.debit) <> sum(l.credit);

-- name: ledger_vs_profiles
-- Profiles whose receivable and customer-credit accounts differ from their pending total and credit balance (all time).
WITH accounts AS (
    SELECT billing_profile_id AS id,
           sum(CASE WHEN account = 'receivable' THEN debit - credit ELSE 0 END) AS receivable,
           sum(CASE WHEN account = 'customer_credit' THEN credit - debit ELSE 0 END) AS credit
    FROM journal_lines WHERE billing_profile_id IS NOT NULL GROUP BY billing_profile_id
)
SELECT p.id AS billing_profile_id, p.pending_total, a.receivable, p.credit_balance,
       a.credit AS journal_credit
FROM billing_profiles p JOIN accounts a ON a.id = p.id
WHERE p.pending_total <> a.receivable OR p.credit_balance <> a.credit;
