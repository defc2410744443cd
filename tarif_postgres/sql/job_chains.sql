-- Chained jobs (tarif_jobs/chains.py): a job chained after another runs when that one
-- succeeds, so the parents of a job must never lead back to it.

-- name: lock_chains
-- One change of chains at a time, until the transaction ends: two changes that each look
-- harmless (A after B, B after A) cannot both pass their check.
SELECT pg_advisory_xact_lock(hashtextextended('tarif.job_chains', 0));

-- name: chain_above
-- A job and the jobs it runs after, nearest first, at most $2 of them (a bound, so a loop
-- that got in by hand still ends). $1 job id, $2 depth limit
WITH RECURSIVE above (id, parent_id, depth) AS (
    SELECT id, parent_id, 1 FROM jobs WHERE id = $1
    UNION ALL
    SELECT j.id, j.parent_id, a.depth + 1
    FROM jobs j JOIN above a ON j.id = a.parent_id
    WHERE a.depth < $2
)
SELECT id FROM above ORDER BY depth;
