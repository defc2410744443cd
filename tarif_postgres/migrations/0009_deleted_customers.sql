-- A closed customer is deleted after its retention: personal data erased, the row kept (as
-- `deleted`) for the records that must stay (rated events, adjustments, audit log).
ALTER TABLE customers DROP CONSTRAINT customers_status_check;
ALTER TABLE customers ADD CONSTRAINT customers_status_check
    CHECK (status IN ('active', 'inactive', 'closed', 'deleted'));
ALTER TABLE customers ADD COLUMN deleted_at timestamptz;
CREATE INDEX customers_delete_after ON customers (delete_after) WHERE status = 'closed';
