-- Cinema seats: each theatre's seat map (staff-editable), and the seat of each seated ticket.
-- A seat is held or sold at most once per showing: the partial unique index covers exactly the
-- active tickets, so a released or refunded ticket frees its seat by changing state.

CREATE TABLE seat_maps (
    theatre TEXT PRIMARY KEY,
    layout TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE tickets ADD COLUMN seat TEXT;
CREATE UNIQUE INDEX tickets_seat ON tickets (slot_id, seat)
    WHERE seat IS NOT NULL AND state IN ('held', 'valid');
