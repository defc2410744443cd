-- Notifications: the notifications kept, their deliveries and attempts, and
-- the mail templates kept in Postgres. Used by tarif_notifications/store.py and the batch.

-- name: insert_notification
-- Keeps a notification once; its id, or nothing on a replay. $1 account id, $2 source id, $3 subscriber, $4 type, $5 threshold id, $6 resource, $7 direction, $8 threshold level, $9 value, $10 decimals, $11 unit, $12 event time, $13 fired at
INSERT INTO notifications (account_id, source_id, subscriber, type,
    threshold_id, resource, direction, threshold_level, value, decimals,
    unit, event_time, fired_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (account_id, source_id) DO NOTHING RETURNING id;

-- name: insert_delivery
-- One delivery of a notification (run with executemany). $1 notification id, $2 channel, $3 recipient, $4 status, $5 last error
INSERT INTO notification_deliveries
    (notification_id, channel, recipient, status, last_error)
VALUES ($1, $2, $3, $4, $5);

-- name: claim_deliveries
-- Takes due deliveries under a lease and counts the attempt; each with its status before (was) and its notification (n.*) or its self-care mail (selfcare_mail_id, mail_*). $1 at most this many, $2 lease in seconds
WITH due AS (
    SELECT id, status FROM notification_deliveries
    WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE notification_deliveries d
    SET status = 'sending', attempts = d.attempts + 1,
        next_attempt_at = now() + make_interval(secs => $2)
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.notification_id, d.selfcare_mail_id, d.channel, d.recipient, d.attempts,
        due.status AS was
)
SELECT c.id AS delivery_id, c.channel, c.recipient, c.attempts, c.was, n.*,
    c.selfcare_mail_id, m.customer_id AS mail_customer_id, m.purpose AS mail_purpose,
    m.token AS mail_token, m.expires_at AS mail_expires_at
FROM claimed c LEFT JOIN notifications n ON n.id = c.notification_id
LEFT JOIN selfcare_mails m ON m.id = c.selfcare_mail_id
ORDER BY c.id;

-- name: insert_interrupted_attempt
-- Records that a sender stopped mid-attempt (run with executemany). $1 delivery id, $2 attempt
INSERT INTO delivery_attempts (delivery_id, attempt, outcome, detail)
VALUES ($1, $2, 'interrupted', 'sender stopped before recording a result')
ON CONFLICT DO NOTHING;

-- name: mark_delivered
-- Marks a delivery delivered if this attempt still holds it; its id, or nothing. $1 delivery id, $2 attempt
UPDATE notification_deliveries
SET status = 'delivered', delivered_at = now(), last_error = ''
WHERE id = $1 AND status = 'sending' AND attempts = $2 RETURNING id;

-- name: mark_failed
-- Records a failure if this attempt still holds the delivery; its id, or nothing. $1 delivery id, $2 attempt, $3 new status, $4 error, $5 seconds before the next attempt
UPDATE notification_deliveries
SET status = $3, last_error = $4,
    next_attempt_at = now() + make_interval(secs => $5)
WHERE id = $1 AND status = 'sending' AND attempts = $2 RETURNING id;

-- name: insert_attempt
-- Records the outcome of one attempt, once. $1 delivery id, $2 attempt, $3 outcome, $4 detail
INSERT INTO delivery_attempts (delivery_id, attempt, outcome, detail)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING;

-- name: notifications_page
-- Notifications newest first, each with its deliveries (JSON). $1 subscriber or null, $2 account ids (text[]) or null, $3 before this id or null, $4 at most this many
SELECT n.*, coalesce(json_agg(json_build_object(
        'channel', d.channel, 'recipient', d.recipient, 'status', d.status,
        'attempts', d.attempts, 'last_error', d.last_error,
        'delivered_at', d.delivered_at) ORDER BY d.id)
        FILTER (WHERE d.id IS NOT NULL), '[]') AS deliveries
FROM notifications n LEFT JOIN notification_deliveries d ON d.notification_id = n.id
WHERE ($1::text IS NULL OR n.subscriber = $1)
  AND ($2::text[] IS NULL OR n.account_id = ANY($2::text[]))
  AND ($3::bigint IS NULL OR n.id < $3)
GROUP BY n.id
ORDER BY n.id DESC
LIMIT $4;

-- name: waiting_deliveries
-- How many deliveries are not done yet (pending, retrying or in flight).
SELECT count(*) FROM notification_deliveries WHERE status IN ('pending', 'sending');

-- name: stored_mail_templates
-- The mail templates kept in Postgres (they override the packaged ones): name, body.
SELECT name, body FROM mail_templates;

-- name: insert_selfcare_mail
-- A self-care mail carrying a one-time token; its id. $1 customer id, $2 purpose, $3 token, $4 token expires at
INSERT INTO selfcare_mails (customer_id, purpose, token, expires_at)
VALUES ($1, $2, $3, $4) RETURNING id;

-- name: insert_selfcare_delivery
-- The e-mail delivery of a self-care mail, due now; its id. $1 self-care mail id, $2 recipient
INSERT INTO notification_deliveries (selfcare_mail_id, channel, recipient)
VALUES ($1, 'email', $2) RETURNING id;

-- name: cancel_selfcare_mails
-- Skips a customer's self-care mails not yet taken by a sender and forgets their tokens (a mail in flight keeps its token until its attempt ends). $1 customer id, $2 purpose or null (all), $3 why
WITH mine AS (
    SELECT id FROM selfcare_mails
    WHERE customer_id = $1 AND ($2::text IS NULL OR purpose = $2) AND token IS NOT NULL
), skipped AS (
    UPDATE notification_deliveries d SET status = 'skipped', last_error = $3
    FROM mine WHERE d.selfcare_mail_id = mine.id AND d.status = 'pending'
    RETURNING d.selfcare_mail_id
)
UPDATE selfcare_mails m SET token = NULL FROM skipped WHERE m.id = skipped.selfcare_mail_id;

-- name: forget_selfcare_token
-- Once a self-care mail is delivered or given up, its token is not kept. $1 delivery id
UPDATE selfcare_mails m SET token = NULL FROM notification_deliveries d
WHERE d.id = $1 AND m.id = d.selfcare_mail_id;
