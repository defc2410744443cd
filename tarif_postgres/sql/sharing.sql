-- Sharing groups in the back office (admin_api/sharing.py).

-- name: other_group_of_member
-- The group (group_id) a customer is a member of, other than this one. $1 customer id, $2 group id
SELECT group_id FROM sharing_members WHERE customer_id = $1 AND group_id <> $2;

-- name: group_owned_by
-- The group (id) a customer owns. $1 customer id
SELECT id FROM sharing_groups WHERE owner_id = $1;

-- name: is_member
-- 1 if the customer is a member of a sharing group. $1 customer id
SELECT 1 FROM sharing_members WHERE customer_id = $1;

-- name: insert_group
-- A new sharing group. $1 group id, $2 owner id, $3 valid from, $4 valid to, $5 policy
INSERT INTO sharing_groups (id, owner_id, valid_from, valid_to, policy)
VALUES ($1, $2, $3, $4, $5);

-- name: upsert_member
-- A customer joins a group, or a member's status changes. $1 group id, $2 customer id, $3 status
INSERT INTO sharing_members (group_id, customer_id, status) VALUES ($1, $2, $3)
ON CONFLICT (group_id, customer_id) DO UPDATE SET status = excluded.status;

-- name: lock_group_status
-- A group's status, the group locked. $1 group id
SELECT status FROM sharing_groups WHERE id = $1 FOR UPDATE;

-- name: update_group
-- Changes what is given: status and policy (NULL keeps them), validity when $6/$7 say so. $1 group id, $2 status, $3 policy, $4 valid from, $5 valid to, $6 set valid from, $7 set valid to
UPDATE sharing_groups SET status = coalesce($2, status),
    policy = coalesce($3, policy),
    valid_from = CASE WHEN $6 THEN $4 ELSE valid_from END,
    valid_to = CASE WHEN $7 THEN $5 ELSE valid_to END, updated_at = now()
WHERE id = $1;

-- name: delete_member
-- A member leaves a group; returns 1 if it was one. $1 group id, $2 customer id
DELETE FROM sharing_members WHERE group_id = $1 AND customer_id = $2 RETURNING 1;
