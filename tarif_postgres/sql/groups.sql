-- What sharing and hierarchy groups have in common (admin_api/groups.py). Every slot is filled
-- from a trusted GroupTables value in code (table names and column lists), never from input.

-- name: group_by_id
-- One group's columns. $1 group id. Slots: {columns} the group's columns shown, {groups} its table
SELECT {columns} FROM {groups} WHERE id = $1;

-- name: group_members
-- A group's members, by customer id. $1 group id. Slots: {member_columns} the member columns shown, {members} the members' table
SELECT {member_columns} FROM {members} WHERE group_id = $1 ORDER BY customer_id;

-- name: groups_with_member_counts
-- One page of the groups of a kind, by id: id, owner_id, status and its number of members. $1 after this id ('' on page 1), $2 page size. Slots: {groups} the groups' table, {members} the members' table
SELECT g.id, g.owner_id, g.status, count(m.customer_id) AS members
FROM {groups} g LEFT JOIN {members} m ON m.group_id = g.id
WHERE g.id > $1 GROUP BY g.id ORDER BY g.id LIMIT $2;
