-- Retention: when an order's visitors' personal data (contact phone, names, ID numbers) was
-- erased, some days after the visit. The order keeps its counts, money, states and seats; its
-- sealed columns become empty and its tickets' blind indexes random, so nothing leads back.

ALTER TABLE orders ADD COLUMN personal_purged_at BIGINT;
CREATE INDEX orders_unpurged_day ON orders (day) WHERE personal_purged_at IS NULL;
