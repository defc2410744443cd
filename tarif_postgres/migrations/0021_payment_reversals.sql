-- A payment can be reversed once (a SEPA debit the bank returns after paying it, R-transaction):
-- a 'reversal' payment that names the payment it reverses, with negative allocations that give
-- back to each invoice what the payment had paid of it, so an invoice's allocations still sum
-- to what it is paid.
ALTER TABLE payments DROP CONSTRAINT payments_kind_check;
ALTER TABLE payments ADD CONSTRAINT payments_kind_check
    CHECK (kind IN ('charge', 'refund', 'reversal'));
ALTER TABLE payments ADD COLUMN reverses_id bigint UNIQUE REFERENCES payments (id);
ALTER TABLE payments ADD CONSTRAINT payments_reversal_names_payment
    CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL));

ALTER TABLE payment_allocations DROP CONSTRAINT payment_allocations_amount_check;
ALTER TABLE payment_allocations ADD CONSTRAINT payment_allocations_amount_check
    CHECK (amount <> 0);

-- A debit the bank paid and then returned: 'returned', with the return's reason and the
-- reversal payment.
ALTER TABLE sepa_collection_items DROP CONSTRAINT sepa_collection_items_status_check;
ALTER TABLE sepa_collection_items ADD CONSTRAINT sepa_collection_items_status_check
    CHECK (status IN ('pending', 'accepted', 'rejected', 'returned'));
ALTER TABLE sepa_collection_items DROP CONSTRAINT sepa_collection_items_check;
ALTER TABLE sepa_collection_items ADD CONSTRAINT sepa_collection_items_check
    CHECK ((status IN ('accepted', 'returned')) = (payment_id IS NOT NULL));
ALTER TABLE sepa_collection_items ADD COLUMN reversal_id bigint REFERENCES payments (id);
ALTER TABLE sepa_collection_items ADD COLUMN returned_at timestamptz;
ALTER TABLE sepa_collection_items ADD CONSTRAINT sepa_items_returned_has_reversal
    CHECK ((status = 'returned') = (reversal_id IS NOT NULL));

ALTER TABLE journal_transactions DROP CONSTRAINT journal_transactions_kind_check;
ALTER TABLE journal_transactions ADD CONSTRAINT journal_transactions_kind_check CHECK (kind IN
    ('invoice', 'credit_note', 'payment', 'refund', 'reversal', 'credit_applied', 'transfer'));
