-- What the admin API's benchmark (loadtest/admin_bench.py) and its data set
-- (loadtest/customers.py) write besides COPY.

-- name: insert_bench_catalog
-- Publishes a catalog version as the benchmark's. $1 catalog document (JSON text)
INSERT INTO catalog_versions (document, published_by) VALUES ($1::jsonb, 'bench');

-- name: queue_catalog_sync
-- Asks the outbox relay to write the catalog to Redis.
INSERT INTO outbox (kind, key) VALUES ('catalog', 'catalog');

-- name: reset_id_sequences
-- Moves the id sequences of customers, subscriptions and balance groups past the copied ids.
SELECT setval('customers_id_seq', (SELECT max(id) FROM customers)),
       setval('subscriptions_id_seq', (SELECT max(id) FROM subscriptions)),
       setval('balance_groups_id_seq', (SELECT max(id) FROM balance_groups));

-- name: analyze_loaded_tables
-- Refreshes the planner's statistics of the copied tables.
ANALYZE customers, subscriptions, services;
