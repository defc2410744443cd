-- The e-mail of an issued invoice or credit note (tarif_billing/emails.py): its recipient, the
-- operator's template, and the invoice's mark once its message is sent.

-- name: invoice_recipient
-- Where an invoice's e-mail goes: the e-mail of the customer's contact tagged `billing`, else the customer's own e-mail. $1 invoice id
SELECT coalesce(
           (SELECT a.email FROM account_contacts a
            WHERE a.account_id = c.account_id AND a.tag = 'billing' AND a.email IS NOT NULL),
           c.email) AS recipient
FROM invoices i JOIN customers c ON c.id = i.customer_id
WHERE i.id = $1;

-- name: stored_template
-- A mail template an operator put in Postgres (/v1/mail-templates), or nothing. $1 name
SELECT body FROM mail_templates WHERE name = $1;

-- name: mark_emailed
-- The invoice's e-mail is no longer pending once its message is logged as sent. $1 invoice id, $2 the message key of its e-mail
UPDATE invoices SET email_pending = false
WHERE id = $1 AND email_pending
  AND EXISTS (SELECT 1 FROM email_log WHERE message_key = $2 AND status = 'sent');

-- name: message_by_key
-- One logged message by its key. $1 key
SELECT id, status FROM email_log WHERE message_key = $1;
