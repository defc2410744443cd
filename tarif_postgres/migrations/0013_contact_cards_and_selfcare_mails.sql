-- Contacts as the customer page shows them: a person or a department with a name, an
-- organisation and a postal address beside the e-mail and phone the notifier uses.
ALTER TABLE account_contacts
    ADD COLUMN first_name text,
    ADD COLUMN last_name text,
    ADD COLUMN organisation text,
    ADD COLUMN address_lines text[],
    ADD COLUMN city text,
    ADD COLUMN postcode text,
    ADD COLUMN country text CHECK (country ~ '^[A-Z]{2}$'),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Self-care e-mails (verification, password reset) go out through the notifier's deliveries, so
-- they get its retries, leases and attempt history. The token travels in the row until the mail
-- is delivered or given up, then it is cleared: only its SHA-256 stays (on selfcare_users).
CREATE TABLE selfcare_mails (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    purpose text NOT NULL CHECK (purpose IN ('verification', 'password_reset')),
    token text,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX selfcare_mails_customer ON selfcare_mails (customer_id, purpose);

-- A delivery carries either a notification or a self-care mail.
ALTER TABLE notification_deliveries
    ALTER COLUMN notification_id DROP NOT NULL,
    ADD COLUMN selfcare_mail_id bigint UNIQUE REFERENCES selfcare_mails (id),
    ADD CONSTRAINT notification_deliveries_one_message
        CHECK (num_nonnulls(notification_id, selfcare_mail_id) = 1);
