-- Unratable usage (`unrated_events`): kept by billing_batch/unrated.py, listed, corrected and
-- re-rated by admin_api/unrated.py.

-- name: insert_unrated_event
-- Keeps an unratable event once, unless it is a re-rate already kept under its row (run with executemany). $1 event id, $2 reason, $3 message, $4 subscriber, $5 service, $6 event time, $7 units, $8 attributes, $9 kept at
INSERT INTO unrated_events (event_id, reason, message, subscriber, service,
    event_time, units, attributes, kept_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
WHERE NOT EXISTS (SELECT 1 FROM unrated_events WHERE rerate_id = $1)
ON CONFLICT (event_id) DO NOTHING;

-- name: open_unrated_counts
-- How many events still wait for a decision, by reason: reason, n.
SELECT reason, count(*) AS n FROM unrated_events
WHERE status IN ('open', 'corrected', 'rejected') GROUP BY reason;

-- name: unrated_page
-- Events oldest first, after an id, by optional status, reason and subscriber. $1 status or null, $2 reason or null, $3 subscriber or null, $4 after this id or null, $5 at most this many
SELECT id, event_id, reason, message, subscriber, service, event_time, units, attributes,
    status, original, corrections, rerate_attempts, rerate_id, result, result_message, cost,
    currency, kept_at, updated_at
FROM unrated_events
WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR reason = $2)
  AND ($3::text IS NULL OR subscriber = $3) AND ($4::bigint IS NULL OR id > $4)
ORDER BY id LIMIT $5;

-- name: unrated_event_by_id
-- One event as the back office shows it. $1 row id
SELECT id, event_id, reason, message, subscriber, service, event_time, units, attributes,
    status, original, corrections, rerate_attempts, rerate_id, result, result_message, cost,
    currency, kept_at, updated_at
FROM unrated_events WHERE id = $1;

-- name: lock_unrated_event
-- One event, all columns, locked until the transaction ends. $1 row id
SELECT * FROM unrated_events WHERE id = $1 FOR UPDATE;

-- name: correct_unrated_event
-- Stores a correction and the event as first received. $1 row id, $2 subscriber, $3 service, $4 attributes, $5 original
UPDATE unrated_events SET subscriber = $2, service = $3, attributes = $4,
    original = $5, status = 'corrected', corrections = corrections + 1,
    updated_at = now()
WHERE id = $1;

-- name: start_rerate
-- Commits the event id a re-rate charges under, before the engine sees it. $1 row id, $2 re-rate id
UPDATE unrated_events SET rerate_id = $2, rerate_attempts = rerate_attempts + 1,
    updated_at = now() WHERE id = $1;

-- name: lock_rerate_state
-- An event's status and current re-rate id, locked. $1 row id
SELECT status, rerate_id FROM unrated_events WHERE id = $1 FOR UPDATE;

-- name: record_rerate
-- Records the engine's answer to a re-rate. $1 row id, $2 new status or null (unchanged), $3 result, $4 message, $5 cost, $6 currency, $7 refusals to add (0 or 1)
UPDATE unrated_events SET status = coalesce($2, status), result = $3,
    result_message = $4, cost = $5, currency = $6, rejections = rejections + $7,
    updated_at = now()
WHERE id = $1;
