-- Every e-mail the back office sends (invoices, reminders, exports), one row per message with
-- its status. The key says what the message is for ("invoice:17:issued", "reminder:4:send:1"):
-- a message already sent under its key is not sent again; a failed one keeps its error and is
-- sent again by a resend (or the next run).
CREATE TABLE email_log (
    id bigserial PRIMARY KEY,
    message_key text NOT NULL UNIQUE,
    kind text NOT NULL,                   -- invoice, reminder, export, ...
    object_type text,
    object_id text,
    recipient text NOT NULL,
    subject text NOT NULL,
    attachments text[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    error text,
    smtp_response text,
    run_id bigint REFERENCES job_runs (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_log_object ON email_log (object_type, object_id);
CREATE INDEX email_log_failed ON email_log (id) WHERE status = 'failed';
