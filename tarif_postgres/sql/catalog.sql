-- Catalog versions (admin_api/catalog.py): every published version is kept, the newest runs.

-- name: latest_catalog
-- The newest version and its document.
SELECT version, document FROM catalog_versions ORDER BY version DESC LIMIT 1;

-- name: latest_catalog_version
-- The newest version number (null before the first publish).
SELECT max(version) FROM catalog_versions;

-- name: catalog_document
-- The document of one version. $1 version
SELECT document FROM catalog_versions WHERE version = $1;

-- name: lock_publishing
-- Waits for the publishers before this one, until the end of the transaction. $1 the publishers' advisory lock key
SELECT pg_advisory_xact_lock($1);

-- name: insert_catalog_version
-- A new version; its number. $1 document, $2 who published it
INSERT INTO catalog_versions (document, published_by) VALUES ($1, $2) RETURNING version;

-- name: catalog_versions
-- One page of versions, newest first, without their documents. $1 before this version (the largest bigint on page 1), $2 page size
SELECT version, published_at, published_by FROM catalog_versions
WHERE version < $1 ORDER BY version DESC LIMIT $2;

-- name: plan_users
-- Of the plans named, those still in use: active subscriptions on each and scheduled plan transitions to each (plan, subscriptions, transitions), by plan. $1 plan names
SELECT p.plan, s.n AS subscriptions, t.n AS transitions
FROM unnest($1::text[]) AS p (plan)
CROSS JOIN LATERAL (SELECT count(*) AS n FROM subscriptions
                    WHERE plan = p.plan AND status = 'active') AS s
CROSS JOIN LATERAL (SELECT count(*) AS n FROM plan_transitions
                    WHERE plan = p.plan AND status = 'scheduled') AS t
WHERE s.n > 0 OR t.n > 0
ORDER BY p.plan;

-- name: latest_plan_names
-- The names of the plans of the newest version (none before the first publish).
SELECT jsonb_object_keys(coalesce(document -> 'plans', '{}')) AS plan
FROM (SELECT document FROM catalog_versions ORDER BY version DESC LIMIT 1) AS latest;
