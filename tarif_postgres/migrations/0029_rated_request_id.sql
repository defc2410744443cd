-- The request id of the call that charged a rated record (the gRPC `x-request-id`, or the one the
-- engine made): the record's `rq` field, so one charge can be followed from the call through
-- billing (docs/tracing.md). Named x_request_id because `request_id` is already the record's
-- idempotency id (e:<event>, s:<session>#<n>, ...). NULL for records written before it existed,
-- for expired sessions and adjustments. Nullable and without a default: adding it rewrites no
-- partition.
ALTER TABLE rated_events ADD COLUMN x_request_id text;
