-- Booking core on SQLite. Instants are Unix milliseconds (UTC); dates 'YYYY-MM-DD' and times
-- 'HH:MM:SS' in the museum's zone. Personal values are AES-GCM ciphertext (BLOB); id_blind is
-- the keyed blind index of the ID number.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    display_name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    locked_until INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('entry', 'hall', 'activity', 'cinema')),
    name TEXT NOT NULL,
    introduction TEXT NOT NULL,
    theatre_type TEXT,
    film TEXT,
    featured BOOLEAN NOT NULL,
    open_days_before INTEGER NOT NULL,
    open_at TEXT NOT NULL,
    close_minutes_before_start INTEGER NOT NULL,
    id_limit_per_day INTEGER NOT NULL,
    max_visitors_per_order INTEGER NOT NULL,
    max_orders_per_account_per_day INTEGER NOT NULL,
    hold_minutes INTEGER NOT NULL,
    notice_version INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE notices (
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (product_id, version)
);

CREATE TABLE ticket_types (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    price_fen INTEGER NOT NULL CHECK (price_fen >= 0)
);

CREATE TABLE slots (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    -- The last line of defence against oversell: held plus sold never exceeds capacity.
    taken INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= capacity),
    UNIQUE (product_id, date, start_time)
);
CREATE INDEX slots_date ON slots (date);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    product_id INTEGER NOT NULL REFERENCES products (id),
    kind TEXT NOT NULL,
    slot_id INTEGER NOT NULL REFERENCES slots (id),
    day TEXT NOT NULL,
    order_seq INTEGER NOT NULL,
    order_limit INTEGER NOT NULL,
    state TEXT NOT NULL,
    notice_version INTEGER NOT NULL,
    contact_phone BLOB NOT NULL,
    total_fen INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    idempotency_key TEXT,
    request_digest TEXT,
    CHECK (order_seq >= 0 AND order_seq < order_limit)
);
-- A retry with the same Idempotency-Key finds its order; only orders sent with a key are indexed.
CREATE UNIQUE INDEX orders_idempotency_key ON orders (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- At most order_limit active orders per account and visiting day.
CREATE UNIQUE INDEX orders_account_day_claim ON orders (account_id, day, order_seq)
    WHERE state IN ('pending_payment', 'confirmed');
CREATE INDEX orders_account_created ON orders (account_id, created_at);
CREATE INDEX orders_due_holds ON orders (expires_at) WHERE state = 'pending_payment';

CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    position INTEGER NOT NULL,
    slot_id INTEGER NOT NULL REFERENCES slots (id),
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    ticket_type_id INTEGER NOT NULL REFERENCES ticket_types (id),
    price_fen INTEGER NOT NULL,
    visitor_name BLOB NOT NULL,
    id_kind TEXT NOT NULL,
    id_number BLOB NOT NULL,
    id_blind BLOB NOT NULL,
    claim_seq INTEGER NOT NULL,
    claim_limit INTEGER NOT NULL,
    state TEXT NOT NULL,
    CHECK (claim_seq >= 0 AND claim_seq < claim_limit)
);
-- At most claim_limit active tickets per ID number, day and product kind, across accounts.
CREATE UNIQUE INDEX tickets_id_claim ON tickets (id_blind, day, kind, claim_seq)
    WHERE state IN ('held', 'valid');
CREATE INDEX tickets_order ON tickets (order_id);

CREATE TABLE order_events (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    at INTEGER NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id);
