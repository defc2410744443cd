-- Operations jobs (issue #12): what is scheduled (jobs), what ran (job_runs), what failed in a
-- run (job_run_items), and what operators must see (activity_log, alerts).
--
-- A job is one type of work with its criteria and schedule. The scheduler turns a due job into a
-- run row and advances the job's next_run_at in one transaction, so a due run exists once; the
-- queue (PgQueuer) hands the run to one worker. A run counts its items; only failed items are
-- kept as rows (with the object they concern and the full error), which a retry run re-does.

CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    job_type text NOT NULL,
    name text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    -- once: at start_at; every: from start_at every every_n every_unit (in time_zone);
    -- chained: after each successful run of parent_id
    schedule_kind text NOT NULL CHECK (schedule_kind IN ('once', 'every', 'chained')),
    start_at timestamptz,
    every_n integer CHECK (every_n > 0),
    every_unit text CHECK (every_unit IN ('minutes', 'hours', 'days', 'weeks', 'months', 'years')),
    time_zone text NOT NULL DEFAULT 'UTC',
    parent_id bigint REFERENCES jobs (id) ON DELETE RESTRICT,
    runs_left integer NOT NULL DEFAULT -1 CHECK (runs_left >= -1),
    active boolean NOT NULL DEFAULT true,
    criteria jsonb NOT NULL DEFAULT '{}',
    -- the next due time of a scheduled job; NULL when chained, finished or paused for good
    next_run_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((schedule_kind = 'chained') = (parent_id IS NOT NULL)),
    CHECK (schedule_kind = 'chained' OR start_at IS NOT NULL),
    CHECK ((schedule_kind = 'every') = (every_n IS NOT NULL AND every_unit IS NOT NULL))
);
CREATE INDEX jobs_due ON jobs (next_run_at) WHERE active AND next_run_at IS NOT NULL;
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE job_runs (
    id bigserial PRIMARY KEY,
    job_id bigint REFERENCES jobs (id) ON DELETE SET NULL,
    job_type text NOT NULL,
    job_name text NOT NULL,
    -- schedule: the scheduler; manual: run now; chain: after the parent's run; retry: of retry_of
    trigger text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'chain', 'retry')),
    -- the time the run acts as of (the seed's "process now" date; the due time when scheduled)
    process_now timestamptz NOT NULL,
    criteria jsonb NOT NULL DEFAULT '{}',
    retry_of bigint REFERENCES job_runs (id),
    parent_run_id bigint REFERENCES job_runs (id),
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    queued_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    total bigint NOT NULL DEFAULT 0,
    succeeded bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    worker text,
    error text,
    requested_by text NOT NULL DEFAULT 'scheduler',
    CHECK (trigger <> 'retry' OR retry_of IS NOT NULL)
);
CREATE INDEX job_runs_job ON job_runs (job_id, id DESC);
CREATE INDEX job_runs_status ON job_runs (status, id) WHERE status IN ('queued', 'running');
CREATE INDEX job_runs_queued_at ON job_runs (queued_at);

-- One row per failed item of a run: the object, the full error and its likely cause. A retry
-- run marks the items it re-did (retried_by) so a second retry does not do them again.
CREATE TABLE job_run_items (
    run_id bigint NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    object_type text NOT NULL,
    object_id text NOT NULL,
    error text NOT NULL,
    cause text NOT NULL DEFAULT '',
    failed_at timestamptz NOT NULL DEFAULT now(),
    retried_by bigint REFERENCES job_runs (id),
    PRIMARY KEY (run_id, object_type, object_id)
);

-- What went wrong, for operators: the process, the object and the likely cause.
CREATE TABLE activity_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    level text NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    process text NOT NULL,
    object_type text,
    object_id text,
    cause text NOT NULL DEFAULT '',
    message text NOT NULL,
    run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL
);
CREATE INDEX activity_log_at ON activity_log (at DESC);
CREATE INDEX activity_log_object ON activity_log (object_type, object_id);

-- An alert stays open until an operator acknowledges it. One open alert per key: a failure that
-- repeats counts up (occurrences, last_at) instead of raising a new alert each time.
CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    alert_key text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('warning', 'critical')),
    process text NOT NULL,
    object_type text,
    object_id text,
    cause text NOT NULL DEFAULT '',
    message text NOT NULL,
    run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL,
    occurrences integer NOT NULL DEFAULT 1,
    raised_at timestamptz NOT NULL DEFAULT now(),
    last_at timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by text
);
CREATE UNIQUE INDEX alerts_open_key ON alerts (alert_key) WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_raised ON alerts (raised_at DESC);
