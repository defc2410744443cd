-- Hierarchy groups and their members (admin_api/hierarchy.py).

-- name: hierarchy_standing
-- Whether the customer exists (known), the hierarchy it is a member of (member_of) and the one it owns (owns). $1 customer id
SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1) AS known,
       (SELECT group_id FROM hierarchy_members WHERE customer_id = $1) AS member_of,
       (SELECT id FROM hierarchy_groups WHERE owner_id = $1) AS owns;

-- name: is_hierarchy_member
-- 1 if the customer is a member of a hierarchy, else no row. $1 customer id
SELECT 1 FROM hierarchy_members WHERE customer_id = $1;

-- name: insert_hierarchy_group
-- A new hierarchy group. $1 group id, $2 owner's customer id, $3 billing profile id
INSERT INTO hierarchy_groups (id, owner_id, billing_profile_id)
VALUES ($1, $2, $3);

-- name: update_hierarchy_group
-- Changes a hierarchy's status and billing profile. $1 group id, $2 status, $3 billing profile id
UPDATE hierarchy_groups SET status = $2, billing_profile_id = $3,
    updated_at = now() WHERE id = $1;

-- name: lock_hierarchy_status
-- A hierarchy's status, the group locked until the transaction ends. $1 group id
SELECT status FROM hierarchy_groups WHERE id = $1 FOR UPDATE;

-- name: insert_hierarchy_member
-- Adds a member (a second hierarchy for the customer is refused by a unique constraint). $1 group id, $2 customer id
INSERT INTO hierarchy_members (group_id, customer_id) VALUES ($1, $2);

-- name: add_hierarchy_member
-- Adds a member unless it is there already. $1 group id, $2 customer id
INSERT INTO hierarchy_members (group_id, customer_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING;

-- name: remove_hierarchy_member
-- Removes a member; 1, or nothing if it was not one. $1 group id, $2 customer id
DELETE FROM hierarchy_members WHERE group_id = $1 AND customer_id = $2 RETURNING 1;
