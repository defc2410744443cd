-- Statements of the `tarif` command itself (tarif_cli/provision.py): loading a provisioning file
-- keeps its catalog in Postgres and onboards only the customers that are not there yet.

-- name: account_has_customer
-- Whether a customer has this engine account id. $1 account id
SELECT EXISTS (SELECT 1 FROM customers WHERE account_id = $1);

-- name: latest_catalog_document
-- The newest catalog document kept (NULL when none is). No arguments.
SELECT document FROM catalog_versions ORDER BY version DESC LIMIT 1;

-- name: keep_catalog_version
-- A new catalog version, kept as it was loaded (no outbox row: the file wrote Redis itself).
-- $1 catalog document  $2 who published it
INSERT INTO catalog_versions (document, published_by) VALUES ($1, $2);
