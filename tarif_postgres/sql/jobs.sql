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

-- The scheduler and the workers of the batch (billing_batch/jobs, docs/jobs.md).

-- name: take_due_job
-- One scheduled job due by $1, locked: another scheduler skips it and takes the next. $1 now
SELECT id, job_type, name, schedule_kind, start_at, every_n, every_unit, time_zone, runs_left,
       criteria, next_run_at
FROM jobs
WHERE active AND next_run_at <= $1 AND schedule_kind <> 'chained' AND runs_left <> 0
ORDER BY next_run_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: advance_job
-- A scheduled job once its due run is made. $1 job id, $2 next due time (NULL: none), $3 runs left
UPDATE jobs SET next_run_at = $2, runs_left = $3, updated_at = now() WHERE id = $1;

-- name: insert_run
-- A queued run of a job. $1 job id, $2 job type, $3 job name, $4 trigger, $5 process now, $6 criteria, $7 retried run, $8 parent run, $9 requested by
INSERT INTO job_runs (job_id, job_type, job_name, trigger, process_now, criteria, retry_of,
                      parent_run_id, requested_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id;

-- name: hold_run
-- Whether this session now holds run $2's lock (a worker holds it while it runs the run; it goes with the session when the worker dies). $1 lock key base, $2 run id
SELECT pg_try_advisory_lock($1::bigint + $2::bigint);

-- name: release_run
-- The run's lock let go. $1 lock key base, $2 run id
SELECT pg_advisory_unlock($1::bigint + $2::bigint);

-- name: lock_run
-- A run as its worker needs it, locked; with the error of the run it retries. $1 run id
SELECT r.id, r.job_id, r.job_type, r.trigger, r.process_now, r.criteria, r.retry_of, r.status,
       r.attempts, o.error AS retried_error
FROM job_runs r
LEFT JOIN job_runs o ON o.id = r.retry_of
WHERE r.id = $1
FOR UPDATE OF r;

-- name: start_run
-- A run taken by a worker: running, one attempt more. A resumed run's total restarts from what it processed (the job type counts what is left). $1 run id, $2 worker
UPDATE job_runs
SET status = 'running', started_at = coalesce(started_at, now()), worker = $2,
    attempts = attempts + 1,
    total = CASE WHEN attempts > 0 THEN succeeded + failed ELSE total END
WHERE id = $1;

-- name: take_retried_items
-- The failed items of run $2 not retried yet, taken by its retry $1 (again when $1 resumes). $1 retry run id, $2 retried run id
UPDATE job_run_items SET retried_by = $1
WHERE run_id = $2 AND (retried_by IS NULL OR retried_by = $1)
RETURNING object_type, object_id;

-- name: requeue_run
-- A run its worker stopped at a unit boundary (the process is stopping): queued to resume. $1 run id
UPDATE job_runs SET status = 'queued', worker = NULL WHERE id = $1 AND status = 'running';

-- name: finish_run
-- A run's end: succeeded without an error and failed items, else failed; the failed count is its failed items. $1 run id, $2 error (NULL: none)
UPDATE job_runs r
SET status = CASE WHEN $2::text IS NULL AND f.n = 0 THEN 'succeeded' ELSE 'failed' END,
    error = $2, finished_at = now(), failed = f.n
FROM (SELECT count(*) AS n FROM job_run_items WHERE run_id = $1) f
WHERE r.id = $1
RETURNING r.status, r.job_id, r.job_type, r.process_now, r.total, r.succeeded, r.failed,
          extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds;

-- name: first_of_retries
-- The run a chain of retries started from (the run itself when it retries none), locked: the runs of one chain of retries finish one at a time. $1 run id
WITH RECURSIVE up AS (
    SELECT id, retry_of FROM job_runs WHERE id = $1
    UNION ALL
    SELECT r.id, r.retry_of FROM job_runs r JOIN up ON r.id = up.retry_of
)
SELECT id FROM job_runs WHERE id = (SELECT id FROM up WHERE retry_of IS NULL) FOR UPDATE;

-- name: start_chained_runs
-- Runs of the active jobs chained to job $2 after its run $1 succeeded: once for a run and all its retries; a job with runs left counts one down. $1 run id, $2 its job, $3 its process now, $4 the first of its chain of retries
WITH RECURSIVE family AS (
    SELECT $4::bigint AS id
    UNION
    SELECT r.id FROM job_runs r JOIN family f ON r.retry_of = f.id
), chosen AS (
    UPDATE jobs j
    SET runs_left = CASE WHEN j.runs_left > 0 THEN j.runs_left - 1 ELSE j.runs_left END,
        updated_at = now()
    WHERE j.parent_id = $2 AND j.active AND j.schedule_kind = 'chained' AND j.runs_left <> 0
      AND NOT EXISTS (
          SELECT 1 FROM job_runs c
          WHERE c.job_id = j.id AND c.trigger = 'chain'
            AND c.parent_run_id IN (SELECT id FROM family))
    RETURNING j.id, j.job_type, j.name, j.criteria
)
INSERT INTO job_runs (job_id, job_type, job_name, trigger, process_now, criteria, parent_run_id,
                      requested_by)
SELECT id, job_type, name, 'chain', $3, criteria, $1, 'chain' FROM chosen
RETURNING id;

-- name: orphaned_runs
-- Queued or running runs nobody holds: no entry waiting or taken in the queue ({queue}: PgQueuer's table) and no worker's lock on them (dead worker, lost entry). $1 lock key base, $2 at most
SELECT r.id FROM job_runs r
WHERE r.status IN ('queued', 'running')
  AND NOT EXISTS (
      SELECT 1 FROM {queue} q
      WHERE q.dedupe_key = 'job-run:' || r.id AND q.status IN ('queued', 'picked'))
  AND NOT EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint = ($1::bigint + r.id) >> 32
        AND l.objid::bigint = ($1::bigint + r.id) & 4294967295)
ORDER BY r.id
LIMIT $2;

-- name: open_alerts
-- Alerts not acknowledged yet, by severity.
SELECT severity, count(*) AS open FROM alerts WHERE acknowledged_at IS NULL GROUP BY severity;

-- name: trim_queue_log
-- PgQueuer's log of queue entries ({log}: its table) older than $1 days; the run history is job_runs. $1 days
DELETE FROM {log} WHERE created < now() - make_interval(days => $1);
