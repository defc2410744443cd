-- The e-mail log as the admin API and the CLI show it (admin_api/email_log.py): every message
-- the back office sent or tried to send, newest first.

-- name: email_log_page
-- One page of the e-mail log, newest first, filtered. $1 status, $2 kind, $3 object type, $4 object id, $5 created from (inclusive), $6 created to (exclusive), $7 before this id (MAX on page 1), $8 page size (each filter NULL: any)
SELECT id, message_key, kind, object_type, object_id, recipient, subject, attachments, status,
       attempts, error, smtp_response, run_id, created_at, sent_at, updated_at
FROM email_log
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::text IS NULL OR kind = $2)
  AND ($3::text IS NULL OR object_type = $3)
  AND ($4::text IS NULL OR object_id = $4)
  AND ($5::timestamptz IS NULL OR created_at >= $5)
  AND ($6::timestamptz IS NULL OR created_at < $6)
  AND id < $7
ORDER BY id DESC LIMIT $8;

-- name: email_by_id
-- One logged message. $1 id
SELECT id, message_key, kind, object_type, object_id, recipient, subject, attachments, status,
       attempts, error, smtp_response, run_id, created_at, sent_at, updated_at
FROM email_log WHERE id = $1;

-- name: email_by_key
-- One logged message by its key. $1 key
SELECT id, message_key, kind, object_type, object_id, recipient, subject, attachments, status,
       attempts, error, smtp_response, run_id, created_at, sent_at, updated_at
FROM email_log WHERE message_key = $1;
