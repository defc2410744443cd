-- Rated records in Postgres (`rated_events`, monthly partitions): billing_batch/rated.py.

-- name: rated_partitions
-- The partitions of rated_events that exist: relname.
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'rated_events';

-- name: lock_partition_creation
-- Takes the transaction's advisory lock, so one process creates partitions at a time. $1 lock key
SELECT pg_advisory_xact_lock($1);

-- name: create_rated_partition
-- The partition of one month. Slots from code, never from input: {partition} a name made from the month (rated_events_YYYY_MM), {start} and {end} its bounds (ISO timestamps made from the month)
CREATE TABLE IF NOT EXISTS {partition} PARTITION OF rated_events
FOR VALUES FROM ('{start}') TO ('{end}');

-- name: create_rated_batch
-- A temporary table for a batch holding records stored before (see move_rated_batch), dropped on commit.
CREATE TEMPORARY TABLE rated_batch (LIKE rated_events INCLUDING DEFAULTS) ON COMMIT DROP;

-- name: move_rated_batch
-- Moves the batch into rated_events; records stored before are skipped. Slots from code: {columns} the COPY's column list (rated.COLUMNS)
INSERT INTO rated_events ({columns}) SELECT {columns} FROM rated_batch
ON CONFLICT DO NOTHING;
