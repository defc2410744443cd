-- The management side of operations jobs (admin_api/jobs.py, job_runs.py, alerts.py): jobs and
-- their schedules, runs asked for by people (run now, retry), the run history and its failed
-- items, alerts and the activity log. The batch's own statements are in jobs.sql.

-- name: jobs_query
-- Jobs as the API shows them: the status (finished: no run left or no due time left; paused: not active; else active), the parent's name and the last run. Slots: {where} and {order} from the listing's whitelist (admin_api/paging.py; values are bind parameters), {sort_key} the chosen sort's expression, {limit} the page size (an int)
SELECT j.id, j.job_type, j.name, j.description, j.schedule_kind, j.start_at, j.every_n,
       j.every_unit, j.time_zone, j.parent_id, p.name AS parent_name, j.runs_left, j.active,
       CASE WHEN j.runs_left = 0
                 OR (j.active AND j.schedule_kind <> 'chained' AND j.next_run_at IS NULL)
            THEN 'finished'
            WHEN NOT j.active THEN 'paused'
            ELSE 'active' END AS status,
       j.criteria, j.next_run_at, j.created_at, j.updated_at,
       r.id AS last_run_id, r.status AS last_run_status, r.queued_at AS last_run_queued_at,
       r.finished_at AS last_run_finished_at,
       {sort_key} AS sort_key
FROM jobs j
LEFT JOIN jobs p ON p.id = j.parent_id
LEFT JOIN LATERAL (SELECT id, status, queued_at, finished_at FROM job_runs
                   WHERE job_id = j.id ORDER BY id DESC LIMIT 1) r ON true
WHERE {where} ORDER BY {order} LIMIT {limit};

-- name: job_status_active
-- A listing condition for {where} (jobs j): the job is active and has runs to come.
(j.active AND j.runs_left <> 0 AND (j.schedule_kind = 'chained' OR j.next_run_at IS NOT NULL))

-- name: job_status_paused
-- A listing condition for {where} (jobs j): the job is paused (and not finished).
(NOT j.active AND j.runs_left <> 0)

-- name: job_status_finished
-- A listing condition for {where} (jobs j): no run is left, or no due time is left.
(j.runs_left = 0 OR (j.active AND j.schedule_kind <> 'chained' AND j.next_run_at IS NULL))

-- name: job_for_update
-- A job's stored fields, locked for a change. $1 job id
SELECT id, job_type, name, description, schedule_kind, start_at, every_n, every_unit, time_zone,
       parent_id, runs_left, active, criteria, next_run_at
FROM jobs WHERE id = $1 FOR UPDATE;

-- name: insert_job
-- A new job. $1 type, $2 name, $3 description, $4 schedule kind, $5 start, $6 every n, $7 every unit, $8 time zone, $9 parent id, $10 runs left, $11 active, $12 criteria (jsonb), $13 next run
INSERT INTO jobs (job_type, name, description, schedule_kind, start_at, every_n, every_unit,
                  time_zone, parent_id, runs_left, active, criteria, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
RETURNING id;

-- name: update_job
-- Every changeable field of a job. $1 job id, $2 name, $3 description, $4 schedule kind, $5 start, $6 every n, $7 every unit, $8 time zone, $9 parent id, $10 runs left, $11 active, $12 criteria (jsonb), $13 next run
UPDATE jobs SET name = $2, description = $3, schedule_kind = $4, start_at = $5, every_n = $6,
    every_unit = $7, time_zone = $8, parent_id = $9, runs_left = $10, active = $11,
    criteria = $12, next_run_at = $13, updated_at = now()
WHERE id = $1;

-- name: job_named
-- The id of the job with this name (none: the name is free). $1 name
SELECT id FROM jobs WHERE name = $1;

-- name: chained_after
-- The jobs chained after a job (at most ten, to name them). $1 job id
SELECT id, name FROM jobs WHERE parent_id = $1 ORDER BY id LIMIT 10;

-- name: delete_job
-- Deletes a job; its runs stay in the history (their job id becomes null). $1 job id
DELETE FROM jobs WHERE id = $1;

-- name: ran_on_schedule
-- Whether the scheduler ever made a run of this job. $1 job id
SELECT EXISTS (SELECT 1 FROM job_runs WHERE job_id = $1 AND trigger = 'schedule');

-- name: known_customer_types
-- Which of these customer types exist. $1 names (text[])
SELECT name FROM customer_types WHERE name = ANY($1::text[]);

-- name: declared_attributes
-- The declared custom attributes among these names, with their type. $1 names (text[])
SELECT name, type FROM custom_attributes WHERE name = ANY($1::text[]);

-- name: insert_run
-- A run asked for by a person (run now, retry), queued. $1 job id, $2 job type, $3 job name, $4 trigger, $5 process now, $6 criteria (jsonb), $7 retry of (run id or null), $8 requested by
INSERT INTO job_runs (job_id, job_type, job_name, trigger, process_now, criteria, retry_of,
                      requested_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id;

-- name: runs_query
-- Runs as the API shows them: duration (to now while running), progress, failed items no retry has taken yet. Slots: {where} a condition on job_runs r with bind parameters numbered from $1, {limit} the page size (an int)
SELECT r.id, r.job_id, r.job_type, r.job_name, r.trigger, r.process_now, r.criteria,
       r.retry_of, r.parent_run_id, r.status, r.queued_at, r.started_at, r.finished_at,
       CASE WHEN r.started_at IS NULL THEN NULL
            ELSE (extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at) * 1000)::bigint
       END AS duration_ms,
       r.total, r.succeeded, r.failed, r.attempts, r.worker, r.error, r.requested_by,
       (SELECT count(*) FROM job_run_items i
        WHERE i.run_id = r.id AND i.retried_by IS NULL) AS items_to_retry
FROM job_runs r
WHERE {where} ORDER BY r.id DESC LIMIT {limit};

-- name: run_for_update
-- A run, locked while a retry of it is decided. $1 run id
SELECT id, job_id, job_type, job_name, process_now, criteria, status FROM job_runs
WHERE id = $1 FOR UPDATE;

-- name: retry_state
-- What a retry of a run would find: its failed items, those no retry has taken yet, a retry of it still queued or running, a retry of it that succeeded. $1 run id
SELECT (SELECT count(*) FROM job_run_items WHERE run_id = $1) AS items,
       (SELECT count(*) FROM job_run_items WHERE run_id = $1 AND retried_by IS NULL)
       AS items_left,
       (SELECT min(id) FROM job_runs WHERE retry_of = $1 AND status IN ('queued', 'running'))
       AS pending_retry,
       (SELECT min(id) FROM job_runs WHERE retry_of = $1 AND status = 'succeeded')
       AS succeeded_retry;

-- name: run_exists
-- Whether a run exists. $1 run id
SELECT EXISTS (SELECT 1 FROM job_runs WHERE id = $1);

-- name: run_items_page
-- One page of a run's failed items, by object. $1 run id, $2 after this object type, $3 and object id (empty on page 1), $4 page size
SELECT run_id, object_type, object_id, error, cause, failed_at, retried_by
FROM job_run_items
WHERE run_id = $1 AND (object_type, object_id) > ($2, $3)
ORDER BY object_type, object_id LIMIT $4;

-- name: request_answered
-- The run a request id made (run now of a job, retry of a run), from the request's audit record. $1 audited object type, $2 object id, $3 action, $4 request id
SELECT (after ->> 'run_id')::bigint FROM audit_log
WHERE object_type = $1 AND object_id = $2 AND action = $3 AND after ->> 'request_id' = $4
ORDER BY id LIMIT 1;

-- name: alerts_page
-- One page of alerts, newest first; a null filter matches all. $1 acknowledged (true, false or null), $2 severity, $3 process, $4 before this id (the largest bigint on page 1), $5 page size
SELECT id, alert_key, severity, process, object_type, object_id, cause, message, run_id,
       occurrences, raised_at, last_at, acknowledged_at, acknowledged_by
FROM alerts
WHERE ($1::boolean IS NULL OR (acknowledged_at IS NOT NULL) = $1)
  AND ($2::text IS NULL OR severity = $2) AND ($3::text IS NULL OR process = $3)
  AND id < $4
ORDER BY id DESC LIMIT $5;

-- name: alert_by_id
-- One alert. $1 alert id
SELECT id, alert_key, severity, process, object_type, object_id, cause, message, run_id,
       occurrences, raised_at, last_at, acknowledged_at, acknowledged_by
FROM alerts WHERE id = $1;

-- name: acknowledge_alert
-- Acknowledges an open alert (none: unknown or acknowledged before). $1 alert id, $2 by whom
UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2
WHERE id = $1 AND acknowledged_at IS NULL
RETURNING id, alert_key, severity, process, object_type, object_id, cause, message, run_id,
          occurrences, raised_at, last_at, acknowledged_at, acknowledged_by;

-- name: activity_page
-- One page of the activity log, newest first; a null filter matches all. $1 process, $2 object type, $3 object id, $4 level, $5 at or after, $6 before, $7 run id, $8 before this id (the largest bigint on page 1), $9 page size
SELECT id, at, level, process, object_type, object_id, cause, message, run_id
FROM activity_log
WHERE ($1::text IS NULL OR process = $1) AND ($2::text IS NULL OR object_type = $2)
  AND ($3::text IS NULL OR object_id = $3) AND ($4::text IS NULL OR level = $4)
  AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)
  AND ($7::bigint IS NULL OR run_id = $7)
  AND id < $8
ORDER BY id DESC LIMIT $9;
