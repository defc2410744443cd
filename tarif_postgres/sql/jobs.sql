-- name: add_run_counts
-- A run's progress, added in batches. $1 run id, $2 more total, $3 more succeeded, $4 more failed
UPDATE job_runs SET total = total + $2, succeeded = succeeded + $3, failed = failed + $4
WHERE id = $1;

-- name: insert_failed_item
-- A failed item of a run (a resumed run failing it again keeps the newest error).
-- $1 run id, $2 object type, $3 object id, $4 error, $5 cause
INSERT INTO job_run_items (run_id, object_type, object_id, error, cause)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (run_id, object_type, object_id)
DO UPDATE SET error = EXCLUDED.error, cause = EXCLUDED.cause, failed_at = now();

-- name: insert_activity
-- An activity log entry. $1 level, $2 process, $3 object type, $4 object id, $5 cause,
-- $6 message, $7 run id
INSERT INTO activity_log (level, process, object_type, object_id, cause, message, run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: raise_alert
-- Raise an alert, or count one more occurrence of the open alert with the same key.
-- $1 key, $2 severity, $3 process, $4 object type, $5 object id, $6 cause, $7 message, $8 run id
INSERT INTO alerts (alert_key, severity, process, object_type, object_id, cause, message, run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (alert_key) WHERE acknowledged_at IS NULL
DO UPDATE SET occurrences = alerts.occurrences + 1, last_at = now(), message = EXCLUDED.message,
    cause = EXCLUDED.cause, run_id = EXCLUDED.run_id
RETURNING id;
