-- API keys (admin_api/auth.py, admin_api/api_keys.py): Postgres keeps a key's SHA-256, never
-- the key itself.

-- name: insert_key
-- A new key. $1 prefix, $2 SHA-256 of the whole key, $3 role, $4 name
INSERT INTO api_keys (prefix, hash, role, name) VALUES ($1, $2, $3, $4);

-- name: key_by_hash
-- The active key with this hash, and whether its last use is older than a minute (stale). $1 SHA-256 of the key
SELECT id, prefix, role,
       last_used_at < now() - interval '1 minute' OR last_used_at IS NULL AS stale
FROM api_keys WHERE hash = $1 AND revoked_at IS NULL;

-- name: touch_key
-- Marks a key used now. $1 key id
UPDATE api_keys SET last_used_at = now() WHERE id = $1;

-- name: list_keys
-- One page of keys, oldest first, without their hashes. $1 after this id (0 on page 1), $2 page size
SELECT id, prefix, role, name, created_at, revoked_at, last_used_at FROM api_keys
WHERE id > $1 ORDER BY id LIMIT $2;

-- name: revoke_key
-- Revokes an active key; its id, or no row when there is no active key of that prefix. $1 prefix
UPDATE api_keys SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL RETURNING id;
