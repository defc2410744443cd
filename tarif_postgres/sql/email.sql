-- name: claim_message
-- Take the log row of a message to send (new, or failed before); null when it was sent already
-- or another sender holds it (`pending`, claimed less than 5 minutes ago: longer than any SMTP
-- timeout, so two runs or a run and a resend never send one message twice; a sender that died
-- leaves it to be taken again after that).
-- $1 key, $2 kind, $3 object type, $4 object id, $5 recipient, $6 subject, $7 attachment names,
-- $8 run id
INSERT INTO email_log (message_key, kind, object_type, object_id, recipient, subject,
                       attachments, run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (message_key) DO UPDATE
    SET recipient = EXCLUDED.recipient, subject = EXCLUDED.subject,
        attachments = EXCLUDED.attachments, run_id = EXCLUDED.run_id, status = 'pending',
        updated_at = now()
    WHERE email_log.status = 'failed'
       OR (email_log.status = 'pending' AND email_log.updated_at < now() - interval '5 minutes')
RETURNING id;

-- name: mark_sent
-- $1 id, $2 SMTP response
UPDATE email_log SET status = 'sent', attempts = attempts + 1, smtp_response = $2, error = NULL,
    sent_at = now(), updated_at = now()
WHERE id = $1;

-- name: mark_failed
-- $1 id, $2 error
UPDATE email_log SET status = 'failed', attempts = attempts + 1, error = $2, updated_at = now()
WHERE id = $1;
