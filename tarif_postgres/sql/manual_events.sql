-- Usage events entered by hand (admin_api/manual_events.py).

-- name: customer_service_identifiers
-- The service identifiers of every subscription of a customer (null when it has none, or when there is no such customer). $1 customer id
SELECT array_agg(v.identifier) FROM services v
JOIN subscriptions s ON s.id = v.subscription_id WHERE s.customer_id = $1;
