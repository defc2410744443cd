-- Usage-triggered invoicing (billing_batch/jobs/usage_invoicing.py, docs/jobs-invoicing.md):
-- the usage of products marked `invoice_on_usage` goes on a bill of its own (kind `usage`) as
-- soon as it is charged, and the invoicing schedule says what was invoiced when.
--
-- A rated record belongs to such a product when its service type is the product's and its
-- subscriber (the service identifier) is a line of an active purchase of the product: a line
-- bought with it (services.purchase_id), or, for a purchase bought without lines of its own, a
-- plan-wide line of its subscription (purchase_id NULL: what the purchase took instead). It is
-- pending while collected_bill_id is NULL and no cycle bill took it (an event time before the
-- profile's usage limit, stored by a transaction the profile's usage snapshot saw), collected
-- once a usage bill took it. The profile's row lock (held from usage_profiles to the commit)
-- keeps billing runs and bill-now off the profile meanwhile, so a record is taken once.

-- name: usage_profiles
-- Postpaid billing profiles of customers the criteria select holding a purchase of a product invoiced on usage, in id order after $3, locked (others' locked ones are skipped: a billing run or bill-now has them, the next run takes them). Slots from code: {criteria} a condition on customers c (tarif_jobs.criteria). $1 products, $2 profile ids (NULL: any), $3 after this id, $4 how many
SELECT p.id, p.currency
FROM billing_profiles p
JOIN customers c ON c.id = p.customer_id
WHERE p.payment_type = 'postpaid' AND p.id > $3
  AND ($2::bigint[] IS NULL OR p.id = ANY($2::bigint[]))
  AND EXISTS (SELECT 1 FROM balance_groups g
              JOIN subscriptions s ON s.balance_group_id = g.id
              JOIN purchases u ON u.subscription_id = s.id
              WHERE g.billing_profile_id = p.id AND u.product = ANY($1::text[])
                AND u.status = 'active')
  AND {criteria}
ORDER BY p.id
LIMIT $4
FOR UPDATE OF p SKIP LOCKED;

-- name: collect_usage
-- One statement (one snapshot): the pending records of the locked profiles with an event time before $5 go on a new bill per profile (kind usage, straight to billing, from the first record to $5), become collected, are summed into usage items per balance group, service, rate and purchase, and into one invoicing schedule line per bill and purchase; answers each new bill with what its invoice needs. $1 profile ids, $2 decimals per profile, $3 products, $4 their service types, $5 process now, $6 run id
WITH lines AS (
    -- a subscriber and service type of a marked product's purchase (a plan-wide line taken by
    -- two such purchases goes with the oldest)
    SELECT DISTINCT ON (v.identifier, m.service)
           p.id AS profile_id, d.decimals, g.id AS group_id, g.account_id,
           s.id AS subscription_id, v.identifier, m.service, u.id AS purchase_id, u.product,
           p.usage_until, p.usage_snapshot
    FROM unnest($1::bigint[], $2::int[]) AS d(profile_id, decimals)
    JOIN billing_profiles p ON p.id = d.profile_id
    JOIN balance_groups g ON g.billing_profile_id = p.id
    JOIN subscriptions s ON s.balance_group_id = g.id
    JOIN purchases u ON u.subscription_id = s.id AND u.status = 'active'
    JOIN unnest($3::text[], $4::text[]) AS m(product, service) ON m.product = u.product
    JOIN services v ON v.subscription_id = s.id
        AND (v.purchase_id = u.id
             OR (v.purchase_id IS NULL
                 AND NOT EXISTS (SELECT 1 FROM services o WHERE o.purchase_id = u.id)))
    ORDER BY v.identifier, m.service, u.id
), pending AS (
    SELECT l.profile_id, l.decimals, l.group_id, l.subscription_id, l.purchase_id, l.product,
           e.account_id, e.request_id, e.event_time
    FROM lines l CROSS JOIN LATERAL (
        -- since the last cycle bill's limit: an index range of the account's records
        SELECT e.account_id, e.request_id, e.event_time
        FROM rated_events e
        WHERE e.account_id = l.account_id AND e.event_time < $5::timestamptz
          AND e.event_time >= coalesce(l.usage_until, '-infinity')
          AND e.subscriber = l.identifier AND e.service = l.service
          AND e.kind IN ('event', 'update', 'end', 'expired', 'refund')
          AND e.collected_bill_id IS NULL
        UNION ALL
        -- earlier, but stored after the last cycle bill was made (late records)
        SELECT e.account_id, e.request_id, e.event_time
        FROM rated_events e
        WHERE e.account_id = l.account_id AND l.usage_until IS NOT NULL
          AND e.ingest_xid >= pg_snapshot_xmin(l.usage_snapshot)::text::bigint
          AND e.event_time < least(l.usage_until, $5)
          AND NOT pg_visible_in_snapshot(e.ingest_xid::text::xid8, l.usage_snapshot)
          AND e.subscriber = l.identifier AND e.service = l.service
          AND e.kind IN ('event', 'update', 'end', 'expired', 'refund')
          AND e.collected_bill_id IS NULL
    ) e
), made AS (
    INSERT INTO bills (billing_profile_id, customer_id, status, kind, currency, period_start,
                       period_end, usage_until, billed_at)
    SELECT p.id, p.customer_id, 'billing', 'usage', p.currency, f.first_event, $5, $5, now()
    FROM (SELECT profile_id, min(event_time) AS first_event FROM pending GROUP BY profile_id) f
    JOIN billing_profiles p ON p.id = f.profile_id
    RETURNING id, billing_profile_id, customer_id, currency, period_start, period_end
), taken AS (
    UPDATE rated_events e SET collected_bill_id = b.id
    FROM pending x JOIN made b ON b.billing_profile_id = x.profile_id
    WHERE e.account_id = x.account_id AND e.request_id = x.request_id
      AND e.event_time = x.event_time AND e.collected_bill_id IS NULL
    RETURNING b.id AS bill_id, x.profile_id, x.decimals, x.group_id, x.subscription_id,
              x.purchase_id, x.product, e.service, e.rate, e.units, e.cost, e.event_time
), grouped AS (
    SELECT bill_id, profile_id, group_id, subscription_id, purchase_id, product, service, rate,
           count(*) AS events, sum(units) AS units, round(sum(cost), min(decimals)) AS amount,
           min(event_time) AS first_event, max(event_time) AS last_event
    FROM taken
    GROUP BY bill_id, profile_id, group_id, subscription_id, purchase_id, product, service, rate
), items AS (
    INSERT INTO bill_items (bill_id, source, kind, description, balance_group_id,
                            subscription_id, purchase_id, service, rate, events, units, amount)
    SELECT bill_id, 'usage:' || group_id || ':' || service || ':' || rate || ':' || purchase_id,
           'usage',
           'Usage ' || service || CASE WHEN rate = '' THEN '' ELSE ' (' || rate || ')' END
               || ' - ' || product,
           group_id, subscription_id, purchase_id, service, rate, events, units, amount
    FROM grouped
), schedule AS (
    INSERT INTO invoicing_schedule (billing_profile_id, bill_id, purchase_id, product, records,
                                    units, amount, first_event, last_event, process_now, run_id)
    SELECT profile_id, bill_id, purchase_id, product, sum(events), sum(units), sum(amount),
           min(first_event), max(last_event), $5, $6
    FROM grouped
    GROUP BY profile_id, bill_id, purchase_id, product
)
SELECT b.id AS bill_id, b.billing_profile_id, b.customer_id, b.currency, b.period_start,
       b.period_end, p.time_zone, p.tax, p.payment_terms_days, p.credit_balance
FROM made b JOIN billing_profiles p ON p.id = b.billing_profile_id
ORDER BY b.id;

-- name: link_schedule_invoices
-- The invoicing schedule lines of these bills name their invoice, and are `invoiced` once it is issued (a failed one stays `calculated`). $1 bill ids
UPDATE invoicing_schedule s SET invoice_id = i.id,
       status = CASE WHEN i.issued_at IS NULL THEN 'calculated' ELSE 'invoiced' END,
       invoiced_at = CASE WHEN i.issued_at IS NULL THEN NULL
                          ELSE coalesce(s.invoiced_at, now()) END
FROM invoices i
WHERE i.bill_id = s.bill_id AND i.kind = 'invoice' AND s.bill_id = ANY($1::bigint[]);
