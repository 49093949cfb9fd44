-- Group bookings: each slot's separate group capacity (its own stock, guarded like the public
-- one), and the organisation a group order books for.

ALTER TABLE slots ADD COLUMN group_capacity INTEGER NOT NULL DEFAULT 0 CHECK (group_capacity >= 0);
ALTER TABLE slots ADD COLUMN group_taken INTEGER NOT NULL DEFAULT 0
    CHECK (group_taken >= 0 AND group_taken <= group_capacity);
ALTER TABLE orders ADD COLUMN organisation_id INTEGER REFERENCES organisations (id);
