-- A customer's usage as billing sees it (`rated_events`): admin_api/usage.py.

-- name: usage_page
-- Rated records of some accounts, oldest first within [from, to), after a keyset position. $1 account ids (text[]), $2 from or null, $3 to or null, $4 after this event time or null, $5 and this request id, $6 at most this many
SELECT request_id, kind, subscriber, service, rate, event_time, charged_at, units,
    rated_units, cost, currency, uncovered, impacts, session_id, refunded,
    attributes, reason
FROM rated_events
WHERE account_id = ANY($1::text[]) AND ($2::timestamptz IS NULL OR event_time >= $2)
  AND ($3::timestamptz IS NULL OR event_time < $3)
  AND ($4::timestamptz IS NULL OR (event_time, request_id) > ($4, $5))
ORDER BY event_time, request_id LIMIT $6;

-- name: usage_export
-- Every rated record of some accounts within [from, to), oldest first. $1 account ids (text[]), $2 from or null, $3 to or null
SELECT request_id, kind, subscriber, service, rate, event_time, charged_at, units,
    rated_units, cost, currency, uncovered, impacts, session_id, refunded,
    attributes, reason
FROM rated_events WHERE account_id = ANY($1::text[])
AND ($2::timestamptz IS NULL OR event_time >= $2)
AND ($3::timestamptz IS NULL OR event_time < $3)
ORDER BY event_time, request_id;

-- name: charged_event
-- A charged one-shot event of some accounts: subscriber, cost, currency. $1 account ids (text[]), $2 request id (e:...)
SELECT subscriber, cost, currency FROM rated_events
WHERE account_id = ANY($1::text[]) AND request_id = $2 AND kind = 'event';

-- name: refunded_so_far
-- The sum of the refunds of an event (negative, or 0). $1 account ids (text[]), $2 the event's id (without e:)
SELECT coalesce(sum(cost), 0) FROM rated_events WHERE account_id = ANY($1::text[])
AND kind = 'refund' AND refunded = $2;

-- name: refund_cost
-- The cost of one refund record, if ingested. $1 account ids (text[]), $2 request id (r:...)
SELECT cost FROM rated_events WHERE account_id = ANY($1::text[]) AND request_id = $2;
