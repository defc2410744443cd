-- Reference data (admin_api/reference.py): small tables of named entries (customer types,
-- custom attributes, ledgers, taxes, mail templates), each read and written by the same queries.
-- Every slot is filled once, from a trusted `reference.Table` in code (its table name and
-- columns), never from input: {table} the table, {columns} `name` and the table's columns,
-- {values} their bind parameters after $1, {updates} `column = excluded.column` for each.

-- name: reference_entries
-- One page of entries, by name. $1 after this name ('' on page 1), $2 page size. Slots: {columns}, {table}
SELECT {columns} FROM {table} WHERE name > $1 ORDER BY name LIMIT $2;

-- name: reference_entry
-- One entry. $1 name. Slots: {columns}, {table}
SELECT {columns} FROM {table} WHERE name = $1;

-- name: reference_entry_locked
-- One entry, locked for a change. $1 name. Slots: {columns}, {table}
SELECT {columns} FROM {table} WHERE name = $1 FOR UPDATE;

-- name: put_reference_entry
-- Creates or replaces an entry. $1 name, $2... the columns in the table's order. Slots: {table}, {columns}, {values}, {updates}
INSERT INTO {table} ({columns}) VALUES ($1, {values})
ON CONFLICT (name) DO UPDATE SET {updates};

-- name: delete_reference_entry
-- Deletes an entry; it as it was, or no row when there is none. $1 name. Slots: {table}, {columns}
DELETE FROM {table} WHERE name = $1 RETURNING {columns};

-- name: customer_type_in_use
-- A row when a customer has this type. $1 customer type
SELECT 1 FROM customers WHERE customer_type = $1 LIMIT 1;

-- name: custom_attribute_in_use
-- A row when a customer has this custom attribute. $1 attribute name
SELECT 1 FROM customers WHERE custom_attributes ? $1 LIMIT 1;

-- name: ledger_in_use
-- A row when a balance adjustment names this ledger. $1 ledger
SELECT 1 FROM balance_adjustments WHERE ledger = $1 LIMIT 1;

-- name: tax_in_use
-- A row when a balance adjustment, a billing profile, a bill item or a bill adjustment names this tax. $1 tax
SELECT 1 FROM balance_adjustments WHERE tax = $1
UNION ALL SELECT 1 FROM billing_profiles WHERE tax = $1
UNION ALL SELECT 1 FROM bill_items WHERE tax = $1
UNION ALL SELECT 1 FROM bill_adjustments WHERE tax = $1 LIMIT 1;
