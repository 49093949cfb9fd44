-- Search tails: the keyed blind index of the last four characters of an order's contact phone
-- and of each of its ID numbers, so support can find an order by the suffix a caller reads out
-- without any of it stored in clear. Written with the order, replaced when its contact phone is
-- corrected, deleted when its personal data is erased. Orders placed before this migration
-- have none (they are found by their number).
CREATE TABLE order_tails (
    order_id TEXT NOT NULL REFERENCES orders (id),
    field TEXT NOT NULL,
    tail BLOB NOT NULL
);
CREATE INDEX order_tails_tail ON order_tails (tail);
CREATE INDEX order_tails_order ON order_tails (order_id);
