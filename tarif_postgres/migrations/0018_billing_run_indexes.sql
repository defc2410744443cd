-- Indexes a billing run needs at scale (measured by loadtest/billing_bench.py, docs/benchmarks.md
-- "Billing"). Each chunk takes the next due bills in (period_end, id) order: with the old index
-- on period_end alone every chunk read and sorted all due bills to keep 500. Each chunk finds
-- its balance groups (usage, fees, adjustments) by billing profile: without an index every chunk
-- read the whole balance_groups table.
DROP INDEX bills_cycle_end;
CREATE INDEX bills_cycle_end ON bills (period_end, id) WHERE status = 'active';
CREATE INDEX balance_groups_profile ON balance_groups (billing_profile_id);
