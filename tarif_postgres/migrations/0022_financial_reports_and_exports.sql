-- Financial reporting and export jobs (docs/jobs-reporting.md): how ledgers are classified, the
-- date each journal transaction is booked on, the reports the reporting job stores, the log of
-- exported files per destination, and dead notification deliveries found fast for a re-send.

-- A ledger's place in reports: its group, its revenue type and its account type (the seed's
-- financial reporting criteria). The journal's own accounts (receivable, tax:, cash:, ...) are
-- classified by the report query itself (docs/jobs-reporting.md).
ALTER TABLE ledgers ADD COLUMN ledger_group text NOT NULL DEFAULT 'revenue'
    CHECK (ledger_group ~ '^[A-Za-z0-9_.:-]{1,64}$');
ALTER TABLE ledgers ADD COLUMN revenue_type text NOT NULL DEFAULT ''
    CHECK (revenue_type ~ '^[A-Za-z0-9_.:-]{0,64}$');
ALTER TABLE ledgers ADD COLUMN account_type text NOT NULL DEFAULT 'revenue'
    CHECK (account_type IN ('asset', 'liability', 'equity', 'revenue', 'expense'));

-- The accounting date of a journal transaction: the issue date of the invoice or credit note it
-- posts, the day (in the profile's time zone) a payment was received, else the day it was
-- posted (UTC). A run "as of" a process-now date books on that date, not on the wall clock.
ALTER TABLE journal_transactions ADD COLUMN booked_on date;

CREATE FUNCTION journal_booked_on() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.booked_on IS NULL AND NEW.invoice_id IS NOT NULL THEN
        SELECT issue_date INTO NEW.booked_on FROM invoices WHERE id = NEW.invoice_id;
    ELSIF NEW.booked_on IS NULL AND NEW.payment_id IS NOT NULL THEN
        SELECT (p.received_at AT TIME ZONE b.time_zone)::date INTO NEW.booked_on
        FROM payments p JOIN billing_profiles b ON b.id = p.billing_profile_id
        WHERE p.id = NEW.payment_id;
    END IF;
    NEW.booked_on := coalesce(NEW.booked_on, (NEW.posted_at AT TIME ZONE 'UTC')::date);
    RETURN NEW;
END $$;
CREATE TRIGGER journal_booked_on BEFORE INSERT ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION journal_booked_on();

UPDATE journal_transactions t SET booked_on = coalesce(
    (SELECT i.issue_date FROM invoices i WHERE i.id = t.invoice_id),
    (SELECT (p.received_at AT TIME ZONE b.time_zone)::date
     FROM payments p JOIN billing_profiles b ON b.id = p.billing_profile_id
     WHERE p.id = t.payment_id),
    (t.posted_at AT TIME ZONE 'UTC')::date);
ALTER TABLE journal_transactions ALTER COLUMN booked_on SET NOT NULL;
CREATE INDEX journal_transactions_booked ON journal_transactions (booked_on);

-- A report of the financial reporting job: the journal of a period (kind journal) or the
-- revenue-recognition summary journal of a month (kind revenue_recognition). One report per
-- kind, period, time zone and filters (fingerprint): running the same period again computes it
-- again in place (same id; revision counts the times its figures changed).
CREATE TABLE financial_reports (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('journal', 'revenue_recognition')),
    period_start date NOT NULL,
    period_end date NOT NULL CHECK (period_end > period_start),   -- exclusive
    time_zone text NOT NULL,
    filters jsonb NOT NULL DEFAULT '{}',
    fingerprint text NOT NULL,
    revision integer NOT NULL DEFAULT 1,
    run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL,   -- the run that computed it last
    computed_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, period_start, period_end, time_zone, fingerprint)
);
CREATE INDEX financial_reports_period ON financial_reports (period_end, id);

-- A report's figures, exact numerics, one row per grouping: `account` rows carry the account and
-- its whole classification; `ledger`, `ledger_group`, `revenue_type`, `account_type` rows sum by
-- that one column; `total` rows sum the currency. The columns a grouping does not use are NULL.
-- Journal reports fill debit, credit, net and entries; revenue recognition fills the deferred
-- revenue at the month's start, what was billed and recognized in it, and the deferred at its end.
CREATE TABLE financial_report_lines (
    report_id bigint NOT NULL REFERENCES financial_reports (id) ON DELETE CASCADE,
    position integer NOT NULL,
    dimension text NOT NULL CHECK (dimension IN
        ('account', 'ledger', 'ledger_group', 'revenue_type', 'account_type', 'total')),
    currency text NOT NULL,
    account text,
    ledger text,
    ledger_group text,
    revenue_type text,
    account_type text,
    debit numeric,
    credit numeric,
    net numeric,
    entries bigint,
    opening_deferred numeric,
    billed numeric,
    recognized numeric,
    closing_deferred numeric,
    PRIMARY KEY (report_id, position)
);

-- Every exported file per destination: delivered once. The key says what was exported (data,
-- format, filters, destination, period: a fingerprint) so a resumed run, a retry or a second
-- run of the same period delivers nothing twice; a failed one is delivered again by a retry.
CREATE TABLE export_deliveries (
    id bigserial PRIMARY KEY,
    export_key text NOT NULL UNIQUE,
    run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL,   -- the run that tried it last
    data text NOT NULL,
    format text NOT NULL,
    destination text NOT NULL,            -- email, sftp, webhook
    target text NOT NULL,                 -- where to (no secret): recipients, host:path, URL
    file_name text NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL,             -- exclusive
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    rows bigint,
    bytes bigint,
    sha256 text,
    detail text,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX export_deliveries_run ON export_deliveries (run_id);
CREATE INDEX export_deliveries_failed ON export_deliveries (id) WHERE status = 'failed';

-- Dead notification deliveries, listed and re-sent by operators.
CREATE INDEX notification_deliveries_dead ON notification_deliveries (id) WHERE status = 'dead';

-- Where a journal account stands in reports. revenue:<ledger> takes its ledger's group, revenue
-- type and account type (a ledger not in the table: revenue, '', revenue); the journal's own
-- accounts are their own ledger: receivable and cash:<method> are assets, tax:<tax>,
-- customer_credit and hierarchy_transfers liabilities; their group is the account's kind.
CREATE FUNCTION account_class(text)
RETURNS TABLE (ledger text, ledger_group text, revenue_type text, account_type text)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN $1 LIKE 'revenue:%' THEN substr($1, 9) ELSE $1 END,
           CASE WHEN $1 LIKE 'revenue:%' THEN coalesce(g.ledger_group, 'revenue')
                WHEN $1 LIKE 'tax:%' THEN 'tax'
                WHEN $1 LIKE 'cash:%' THEN 'cash'
                ELSE $1 END,
           CASE WHEN $1 LIKE 'revenue:%' THEN coalesce(g.revenue_type, '') ELSE '' END,
           CASE WHEN $1 LIKE 'revenue:%' THEN coalesce(g.account_type, 'revenue')
                WHEN $1 = 'receivable' OR $1 LIKE 'cash:%' THEN 'asset'
                ELSE 'liability' END
    FROM (SELECT 1) AS one
    LEFT JOIN ledgers g ON $1 LIKE 'revenue:%' AND g.name = substr($1, 9)
$$;

-- Revenue of an invoice line recognized up to and including `day`: nothing before the document
-- was issued; then the part of its service period (inclusive dates) elapsed by `day`, by days,
-- rounded to the currency's decimals; all of it for a line without a period. Month by month the
-- differences of these cumulative amounts add up to the line's net exactly.
-- $1 net, $2 decimals, $3 issue date, $4 period start, $5 period end, $6 day
CREATE FUNCTION recognized_through(numeric, smallint, date, date, date, date) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN $3 > $6 THEN 0
        WHEN $4 IS NULL OR $5 IS NULL OR $5 < $4 THEN $1
        ELSE round($1 * greatest(0, least($6 - $4 + 1, $5 - $4 + 1))::numeric
                   / ($5 - $4 + 1), $2)
    END
$$;
