-- Collections (issue #12 item 6, docs/collections.md): reminder terms and their levels, the
-- automations that create, issue and send reminders, the reminders with the invoices they name,
-- and the log of every automation run.

-- Reminder terms: how a customer is reminded (Business Central's "Reminder Terms").
CREATE TABLE reminder_terms (
    code text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_.-]{1,32}$'),
    description text NOT NULL DEFAULT '',
    -- an invoice is reminded of at most this many times; past the last level it repeats
    max_reminders integer NOT NULL DEFAULT 3 CHECK (max_reminders BETWEEN 1 AND 100),
    -- the texts used when a level has none in the customer's language
    default_language text NOT NULL DEFAULT 'en' CHECK (default_language ~ '^[a-z]{2,3}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Levels 1..n of a term (numbered without gaps; the API keeps them so). Grace period and due
-- date calculation are date formulas (tarif_billing/reminders/date_formula.py); the fee is
-- posted when a reminder of the level is issued, for profiles billed in the fee's currency.
CREATE TABLE reminder_levels (
    terms_code text NOT NULL REFERENCES reminder_terms (code) ON DELETE CASCADE,
    level integer NOT NULL CHECK (level BETWEEN 1 AND 100),
    grace_period text NOT NULL DEFAULT '0D',
    due_date_formula text NOT NULL DEFAULT '14D',
    fee_amount numeric NOT NULL DEFAULT 0 CHECK (fee_amount >= 0),
    fee_currency text CHECK (fee_currency ~ '^[A-Za-z0-9_]{1,16}$'),
    fee_tax text REFERENCES taxes (name),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (terms_code, level),
    CHECK (fee_amount = 0 OR fee_currency IS NOT NULL)
);

-- A level's words per language (Jinja2 templates: subject, text before and after the lines).
CREATE TABLE reminder_level_texts (
    terms_code text NOT NULL,
    level integer NOT NULL,
    language text NOT NULL CHECK (language ~ '^[a-z]{2,3}$'),
    subject text NOT NULL,
    beginning_text text NOT NULL DEFAULT '',
    ending_text text NOT NULL DEFAULT '',
    PRIMARY KEY (terms_code, level, language),
    FOREIGN KEY (terms_code, level) REFERENCES reminder_levels (terms_code, level)
        ON DELETE CASCADE
);

-- A billing profile's reminder terms (none: TARIF_DEFAULT_REMINDER_TERMS, and without that it
-- is never reminded) and the language of its documents.
ALTER TABLE billing_profiles ADD COLUMN reminder_terms text REFERENCES reminder_terms (code);
ALTER TABLE billing_profiles ADD COLUMN language text CHECK (language ~ '^[a-z]{2,3}$');

-- Invoices on hold (disputed): left out of reminders unless a create action includes them.
CREATE TABLE reminder_holds (
    invoice_id bigint PRIMARY KEY REFERENCES invoices (id),
    reason text NOT NULL,
    held_by text NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now()
);

-- An automation: a cadence, a filter on terms (none: every term) and customers, ordered actions.
CREATE TABLE reminder_automations (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    criteria jsonb NOT NULL DEFAULT '{}',
    cadence text NOT NULL CHECK (cadence IN ('manual', 'weekly', 'monthly', 'custom')),
    formula text,
    starts_at timestamptz,
    time_zone text NOT NULL DEFAULT 'UTC',
    active boolean NOT NULL DEFAULT true,
    next_run_at timestamptz,
    last_run_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((cadence = 'custom') = (formula IS NOT NULL)),
    CHECK ((cadence = 'manual') = (starts_at IS NULL)),
    CHECK (cadence <> 'manual' OR next_run_at IS NULL)
);
CREATE INDEX reminder_automations_due ON reminder_automations (next_run_at)
    WHERE active AND next_run_at IS NOT NULL;

CREATE TABLE reminder_automation_terms (
    automation_id bigint NOT NULL REFERENCES reminder_automations (id) ON DELETE CASCADE,
    terms_code text NOT NULL REFERENCES reminder_terms (code),
    PRIMARY KEY (automation_id, terms_code)
);

-- Actions run in position order; positions are swapped by move up / down (checked at the end
-- of the statement).
CREATE TABLE reminder_actions (
    id bigserial PRIMARY KEY,
    automation_id bigint NOT NULL REFERENCES reminder_automations (id) ON DELETE CASCADE,
    position integer NOT NULL CHECK (position >= 1),
    kind text NOT NULL CHECK (kind IN ('create', 'issue', 'send')),
    description text NOT NULL DEFAULT '',
    options jsonb NOT NULL DEFAULT '{}',
    stop_on_error boolean NOT NULL DEFAULT false,
    CONSTRAINT reminder_actions_position UNIQUE (automation_id, position)
        DEFERRABLE INITIALLY IMMEDIATE
);

-- A reminder of one billing profile: draft (created) -> issued -> sent; a draft may be
-- cancelled. Dates are the "process now" dates of the actions that set them. One draft per
-- profile and level at most.
CREATE TABLE reminders (
    id bigserial PRIMARY KEY,
    billing_profile_id bigint NOT NULL REFERENCES billing_profiles (id),
    customer_id bigint NOT NULL REFERENCES customers (id),
    terms_code text NOT NULL REFERENCES reminder_terms (code),
    level integer NOT NULL CHECK (level >= 1),
    status text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'issued', 'sent', 'cancelled')),
    currency text NOT NULL,
    document_date date NOT NULL,
    posting_date date NOT NULL,
    due_date date NOT NULL,
    overdue_total numeric NOT NULL,
    fee_amount numeric NOT NULL DEFAULT 0,
    fee_invoice_id bigint UNIQUE REFERENCES invoices (id),
    automation_id bigint REFERENCES reminder_automations (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    issued_at timestamptz,
    sent_count integer NOT NULL DEFAULT 0,
    first_sent_at timestamptz,
    last_sent_at timestamptz,
    cancelled_at timestamptz,
    cancel_reason text,
    last_error text,
    failed_at timestamptz,
    CHECK ((status IN ('issued', 'sent')) = (issued_at IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_count > 0))
);
CREATE UNIQUE INDEX reminders_one_draft ON reminders (billing_profile_id, level)
    WHERE status = 'draft';
CREATE INDEX reminders_status ON reminders (status, id);
CREATE INDEX reminders_customer ON reminders (customer_id, id);
CREATE INDEX reminders_profile ON reminders (billing_profile_id, id);

-- The invoices a reminder names, as they stood when it was created: overdue ones with the level
-- they reach, and (all_unpaid) the other unpaid ones.
CREATE TABLE reminder_lines (
    reminder_id bigint NOT NULL REFERENCES reminders (id),
    invoice_id bigint NOT NULL REFERENCES invoices (id),
    kind text NOT NULL CHECK (kind IN ('overdue', 'unpaid')),
    level integer CHECK (level >= 1),
    number text NOT NULL,
    issue_date date,
    due_date date NOT NULL,
    total numeric NOT NULL,
    amount_due numeric NOT NULL,
    on_hold boolean NOT NULL DEFAULT false,
    PRIMARY KEY (reminder_id, invoice_id),
    CHECK ((kind = 'overdue') = (level IS NOT NULL))
);
CREATE INDEX reminder_lines_invoice ON reminder_lines (invoice_id);

-- Every run of an automation and what each of its actions did.
CREATE TABLE reminder_runs (
    id bigserial PRIMARY KEY,
    automation_id bigint NOT NULL REFERENCES reminder_automations (id) ON DELETE CASCADE,
    job_run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL,
    trigger text NOT NULL CHECK (trigger IN ('schedule', 'start', 'retry')),
    process_now timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX reminder_runs_automation ON reminder_runs (automation_id, id);
CREATE INDEX reminder_runs_job_run ON reminder_runs (job_run_id) WHERE job_run_id IS NOT NULL;

CREATE TABLE reminder_run_actions (
    run_id bigint NOT NULL REFERENCES reminder_runs (id) ON DELETE CASCADE,
    position integer NOT NULL,
    action_id bigint REFERENCES reminder_actions (id) ON DELETE SET NULL,
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped')),
    processed integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    error text,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, position)
);
