-- What a billing run needs at scale (measured by loadtest/billing_bench.py, docs/benchmarks.md
-- "Billing"). Each chunk takes the next due bills in (period_end, id) order: with the old index
-- on period_end alone every chunk read and sorted all due bills to keep 500. Each chunk finds
-- its balance groups (usage, fees, adjustments) by billing profile: without an index every chunk
-- read the whole balance_groups table.
DROP INDEX bills_cycle_end;
CREATE INDEX bills_cycle_end ON bills (period_end, id) WHERE status = 'active';
CREATE INDEX balance_groups_profile ON balance_groups (billing_profile_id);
-- Late records (an earlier event time, stored after the last bills were made) are looked up per
-- account among what was stored since then: without it, from the second cycle on, every chunk
-- read the whole month of every account (the BRIN on ingest_xid keeps only older months out).
-- event_time is in the key so that on-time records are passed over in the index, not the heap.
CREATE INDEX rated_events_account_ingest ON rated_events (account_id, ingest_xid, event_time);

-- Lines and VAT rows are inserted thousands at a time by a run: the check that their invoice is
-- not issued runs once per statement (one lookup per invoice) instead of once per row. Updates
-- and deletes keep the row check of 0014; the error is the same.
CREATE FUNCTION invoice_parts_inserted_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    issued text;
BEGIN
    SELECT coalesce(i.number, '') INTO issued
    FROM (SELECT DISTINCT invoice_id FROM inserted_parts) n
    CROSS JOIN LATERAL (SELECT number FROM invoices
                        WHERE id = n.invoice_id AND issued_at IS NOT NULL) i
    LIMIT 1;
    IF issued IS NOT NULL THEN
        RAISE EXCEPTION 'invoice % is issued: its lines and taxes cannot change', issued
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER invoice_lines_frozen ON invoice_lines;
CREATE TRIGGER invoice_lines_frozen BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_parts_frozen();
CREATE TRIGGER invoice_lines_inserted_frozen AFTER INSERT ON invoice_lines
    REFERENCING NEW TABLE AS inserted_parts
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_parts_inserted_frozen();
DROP TRIGGER invoice_taxes_frozen ON invoice_taxes;
CREATE TRIGGER invoice_taxes_frozen BEFORE UPDATE OR DELETE ON invoice_taxes
    FOR EACH ROW EXECUTE FUNCTION invoice_parts_frozen();
CREATE TRIGGER invoice_taxes_inserted_frozen AFTER INSERT ON invoice_taxes
    REFERENCING NEW TABLE AS inserted_parts
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_parts_inserted_frozen();
