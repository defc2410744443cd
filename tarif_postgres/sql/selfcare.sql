-- Self-care users: a customer's own login, managed from the back office (admin_api/selfcare.py).

-- name: selfcare_user
-- A customer's self-care user as the API shows it (no hash, no token). $1 customer id
SELECT id, customer_id, email, enabled, email_verified_at IS NOT NULL AS email_verified,
    email_verified_at, created_at, updated_at
FROM selfcare_users WHERE customer_id = $1;

-- name: insert_selfcare_user
-- A customer's self-care user. $1 customer id, $2 e-mail, $3 password hash
INSERT INTO selfcare_users (customer_id, email, password_hash)
VALUES ($1, $2, $3);

-- name: update_selfcare_user
-- Changes what is given (NULL keeps it); a new e-mail must be verified again. $1 customer id, $2 e-mail, $3 enabled, $4 password hash
UPDATE selfcare_users SET
    email = coalesce($2, email),
    email_verified_at = CASE WHEN $2::text IS NULL OR lower($2) = lower(email)
                        THEN email_verified_at END,
    enabled = coalesce($3, enabled),
    password_hash = coalesce($4, password_hash),
    failed_logins = CASE WHEN $4::text IS NULL THEN failed_logins ELSE 0 END,
    updated_at = now()
WHERE customer_id = $1;

-- name: delete_selfcare_user
-- Removes a customer's self-care user. $1 customer id
DELETE FROM selfcare_users WHERE customer_id = $1;

-- name: set_verification_token
-- Stores a new e-mail verification token's digest and expiry. $1 customer id, $2 digest, $3 expires at
UPDATE selfcare_users SET verification_hash = $2, verification_expires_at = $3
WHERE customer_id = $1;

-- name: set_reset_token
-- Stores a new password reset token's digest and expiry. $1 customer id, $2 digest, $3 expires at
UPDATE selfcare_users SET reset_hash = $2, reset_expires_at = $3
WHERE customer_id = $1;

-- name: verify_email
-- Marks the e-mail verified if the token is right and alive (used once); returns id. $1 customer id, $2 token digest
UPDATE selfcare_users SET email_verified_at = now(), verification_hash = NULL,
    verification_expires_at = NULL, updated_at = now()
WHERE customer_id = $1 AND verification_hash = $2
  AND verification_expires_at > now() RETURNING id;

-- name: reset_password
-- Sets a new password if the reset token is right and alive (used once); returns id. $1 customer id, $2 token digest, $3 password hash
UPDATE selfcare_users SET password_hash = $3, reset_hash = NULL,
    reset_expires_at = NULL, failed_logins = 0, updated_at = now()
WHERE customer_id = $1 AND reset_hash = $2 AND reset_expires_at > now()
RETURNING id;

-- name: login_by_email
-- The self-care user of an e-mail, any case (id, customer_id, password_hash, enabled). $1 e-mail
SELECT id, customer_id, password_hash, enabled FROM selfcare_users
WHERE lower(email) = lower($1);

-- name: count_failed_login
-- One more failed login. $1 self-care user id
UPDATE selfcare_users SET failed_logins = failed_logins + 1 WHERE id = $1;

-- name: rehash_password
-- Replaces a password hash made with older parameters. $1 self-care user id, $2 password hash
UPDATE selfcare_users SET password_hash = $2 WHERE id = $1;

-- name: clear_failed_logins
-- A successful login resets the failed count. $1 self-care user id
UPDATE selfcare_users SET failed_logins = 0 WHERE id = $1;
