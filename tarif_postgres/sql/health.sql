-- Readiness probes (`/readyz` of the admin API and the batch): Postgres answers at all.

-- name: ping
-- A round trip that touches no table. No arguments.
SELECT 1;
