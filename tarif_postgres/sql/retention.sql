-- Deleting closed customers once their retention has passed (tarif_billing/retention.py, the
-- account-deletion job).

-- name: due_customers
-- Closed customers whose delete_after passed by a time, of those the criteria select (id), by id; one with an invoice still due is kept (its invoices and payments need it). $1 at, $2 after this id, $3 at most, $4 only these ids (NULL: any), $5...: the criteria's values
SELECT c.id FROM customers c
WHERE c.status = 'closed' AND c.delete_after <= $1 AND c.id > $2
  AND ($4::bigint[] IS NULL OR c.id = ANY($4::bigint[]))
  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = c.id
                  AND i.status = 'billing' AND i.amount_due > 0)
  AND {where}
ORDER BY c.id LIMIT $3;

-- name: lock_due_customer
-- One closed customer if its delete_after passed by a time and no invoice of it is still due (id, account_id), locked; none when another worker holds it. $1 customer id, $2 at
SELECT c.id, c.account_id FROM customers c
WHERE c.id = $1 AND c.status = 'closed' AND c.delete_after <= $2
  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = c.id
                  AND i.status = 'billing' AND i.amount_due > 0)
FOR UPDATE OF c SKIP LOCKED;

-- name: delete_plan_transitions
-- Removes the plan transitions of a customer's subscriptions. $1 customer id
DELETE FROM plan_transitions
WHERE subscription_id IN (SELECT id FROM subscriptions WHERE customer_id = $1);

-- name: delete_services
-- Removes the services of a customer's subscriptions. $1 customer id
DELETE FROM services
WHERE subscription_id IN (SELECT id FROM subscriptions WHERE customer_id = $1);

-- name: sharing_groups_touched
-- The sharing groups (id) a customer is a member of or owns. $1 customer id
SELECT group_id AS id FROM sharing_members WHERE customer_id = $1
UNION SELECT id FROM sharing_groups WHERE owner_id = $1;

-- name: cancel_owned_sharing_groups
-- Cancels the sharing groups a customer owns. $1 customer id
UPDATE sharing_groups SET status = 'cancelled', updated_at = now()
WHERE owner_id = $1;

-- name: empty_owned_sharing_groups
-- Removes every member of the sharing groups a customer owns. $1 customer id
DELETE FROM sharing_members WHERE group_id IN
(SELECT id FROM sharing_groups WHERE owner_id = $1);

-- name: cancel_owned_hierarchies
-- Cancels the hierarchy groups a customer owns. $1 customer id
UPDATE hierarchy_groups SET status = 'cancelled', updated_at = now() WHERE owner_id = $1;

-- name: delete_balances
-- Removes a customer's provisioned balances. $1 customer id
DELETE FROM balances WHERE customer_id = $1;

-- name: delete_selfcare_user
-- Removes a customer's self-care login. $1 customer id
DELETE FROM selfcare_users WHERE customer_id = $1;

-- name: erase_selfcare_mails
-- Forgets the tokens of a customer's self-care mails and erases their recipients; a mail not yet sent is skipped. $1 customer id
WITH mails AS (UPDATE selfcare_mails SET token = NULL WHERE customer_id = $1 RETURNING id)
UPDATE notification_deliveries d SET recipient = '',
    last_error = CASE WHEN d.status IN ('pending', 'sending') THEN 'customer deleted'
                 ELSE d.last_error END,
    status = CASE WHEN d.status IN ('pending', 'sending') THEN 'skipped' ELSE d.status END
FROM mails WHERE d.selfcare_mail_id = mails.id;

-- name: delete_sharing_memberships
-- Takes a customer out of its sharing group. $1 customer id
DELETE FROM sharing_members WHERE customer_id = $1;

-- name: delete_hierarchy_memberships
-- Takes a customer out of its hierarchy group. $1 customer id
DELETE FROM hierarchy_members WHERE customer_id = $1;

-- name: cancel_subscriptions
-- Cancels every subscription of a customer (keeping an earlier cancellation's time). $1 customer id
UPDATE subscriptions SET status = 'cancelled',
    cancelled_at = coalesce(cancelled_at, now()) WHERE customer_id = $1;

-- name: delete_account_contacts
-- Removes the contacts of an account. $1 account id
DELETE FROM account_contacts WHERE account_id = $1;

-- name: erase_customer
-- Marks a customer deleted and erases its personal data (the row stays for references). $1 customer id
UPDATE customers SET status = 'deleted', deleted_at = now(), first_name = 'deleted',
    last_name = '', email = '', phone = '', organisation = NULL, address = '', city = '',
    state = '', postcode = NULL, custom_attributes = '{}', payment_info = '{}',
    updated_at = now() WHERE id = $1;
