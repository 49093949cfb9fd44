-- Group bookings: each slot's separate group capacity (its own stock, guarded like the public
-- one), and the organisation a group order books for.

ALTER TABLE slots ADD COLUMN group_capacity BIGINT NOT NULL DEFAULT 0 CHECK (group_capacity >= 0);
ALTER TABLE slots ADD COLUMN group_taken BIGINT NOT NULL DEFAULT 0;
ALTER TABLE slots ADD CONSTRAINT slots_group_taken CHECK (group_taken >= 0 AND group_taken <= group_capacity);
ALTER TABLE orders ADD COLUMN organisation_id BIGINT REFERENCES organisations (id);
