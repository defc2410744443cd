-- Contacts: where an account's customer is told things and who it is reached through. Kept
-- under the engine's account id (a customer's first balance group's). Used by
-- tarif_notifications/store.py (the notifier, provisioning) and admin_api/contacts.py.
-- A contact row's columns, in order: tag, email, phone, first_name, last_name, organisation,
-- address_lines, city, postcode, country.

-- name: delete_contacts
-- Removes all contacts of an account. $1 account id
DELETE FROM account_contacts WHERE account_id = $1;

-- name: insert_contact
-- Adds one contact (run with executemany too). $1 account id, $2 tag, $3 e-mail, $4 phone, $5 first name, $6 last name, $7 organisation, $8 address lines (text[]), $9 city, $10 postcode, $11 country
INSERT INTO account_contacts (account_id, tag, email, phone, first_name, last_name,
    organisation, address_lines, city, postcode, country)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: update_contact
-- Replaces one contact's details; its tag, or nothing if there is no such contact. $1 account id, $2 tag, $3 e-mail, $4 phone, $5 first name, $6 last name, $7 organisation, $8 address lines (text[]), $9 city, $10 postcode, $11 country
UPDATE account_contacts SET email = $3, phone = $4, first_name = $5, last_name = $6,
    organisation = $7, address_lines = $8, city = $9, postcode = $10, country = $11,
    updated_at = now()
WHERE account_id = $1 AND tag = $2 RETURNING tag;

-- name: delete_contact
-- Removes one contact; its tag, or nothing if there is no such contact. $1 account id, $2 tag
DELETE FROM account_contacts WHERE account_id = $1 AND tag = $2 RETURNING tag;

-- name: contact_of_account
-- One contact of an account, its columns (see the header), locked until the transaction ends. $1 account id, $2 tag
SELECT tag, email, phone, first_name, last_name, organisation, address_lines, city, postcode,
    country
FROM account_contacts WHERE account_id = $1 AND tag = $2 FOR UPDATE;

-- name: contacts_of_account
-- The contacts of one account, its columns (see the header), by tag. $1 account id
SELECT tag, email, phone, first_name, last_name, organisation, address_lines, city, postcode,
    country
FROM account_contacts WHERE account_id = $1 ORDER BY tag;

-- name: contacts_of_accounts
-- Contacts of each account (a balance group's are its customer's main account's): account_id, tag, email, phone. $1 account ids (text[])
SELECT q.id AS account_id, a.tag, a.email, a.phone FROM unnest($1::text[]) q (id)
LEFT JOIN balance_groups g ON g.account_id = q.id
LEFT JOIN customers c ON c.id = g.customer_id
JOIN account_contacts a ON a.account_id = coalesce(c.account_id, q.id)
ORDER BY q.id, a.tag;
