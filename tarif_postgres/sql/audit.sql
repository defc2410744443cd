-- The audit log (admin_api/audit.py): who changed what, when, before and after.

-- name: insert_audit_record
-- One change. $1 actor, $2 role, $3 action, $4 object type, $5 object id, $6 before (JSON or null), $7 after (JSON or null)
INSERT INTO audit_log (actor, role, action, object_type, object_id, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: audit_page
-- One page of the log, newest first; a null filter matches all. $1 object type, $2 object id, $3 actor, $4 last id seen (the page holds older ones; the largest bigint on page 1), $5 page size, $6 at or after this time, $7 before this time
SELECT id, at, actor, role, action, object_type, object_id, before, after
FROM audit_log
WHERE ($1::text IS NULL OR object_type = $1) AND ($2::text IS NULL OR object_id = $2)
  AND ($3::text IS NULL OR actor = $3) AND id < $4
  AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7)
ORDER BY id DESC LIMIT $5;
