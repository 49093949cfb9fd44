-- Booking core on PostgreSQL. Instants are Unix milliseconds (UTC); dates 'YYYY-MM-DD' and times
-- 'HH:MM:SS' in the museum's zone. Personal values are AES-GCM ciphertext (BLOB); id_blind is
-- the keyed blind index of the ID number.

CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    display_name TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    locked_until BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE products (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('entry', 'hall', 'activity', 'cinema')),
    name TEXT NOT NULL,
    introduction TEXT NOT NULL,
    theatre_type TEXT,
    film TEXT,
    featured BOOLEAN NOT NULL,
    open_days_before BIGINT NOT NULL,
    open_at TEXT NOT NULL,
    close_minutes_before_start BIGINT NOT NULL,
    id_limit_per_day BIGINT NOT NULL,
    max_visitors_per_order BIGINT NOT NULL,
    max_orders_per_account_per_day BIGINT NOT NULL,
    hold_minutes BIGINT NOT NULL,
    notice_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE notices (
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    text TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (product_id, version)
);

CREATE TABLE ticket_types (
    id BIGSERIAL PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    price_fen BIGINT NOT NULL CHECK (price_fen >= 0)
);

CREATE TABLE slots (
    id BIGSERIAL PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    capacity BIGINT NOT NULL CHECK (capacity >= 0),
    -- The last line of defence against oversell: held plus sold never exceeds capacity.
    taken BIGINT NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= capacity),
    UNIQUE (product_id, date, start_time)
);
CREATE INDEX slots_date ON slots (date);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    kind TEXT NOT NULL,
    slot_id BIGINT NOT NULL REFERENCES slots (id),
    day TEXT NOT NULL,
    order_seq BIGINT NOT NULL,
    order_limit BIGINT NOT NULL,
    state TEXT NOT NULL,
    notice_version BIGINT NOT NULL,
    contact_phone BYTEA NOT NULL,
    total_fen BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
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
    position BIGINT NOT NULL,
    slot_id BIGINT NOT NULL REFERENCES slots (id),
    kind TEXT NOT NULL,
    day TEXT NOT NULL,
    ticket_type_id BIGINT NOT NULL REFERENCES ticket_types (id),
    price_fen BIGINT NOT NULL,
    visitor_name BYTEA NOT NULL,
    id_kind TEXT NOT NULL,
    id_number BYTEA NOT NULL,
    id_blind BYTEA NOT NULL,
    claim_seq BIGINT NOT NULL,
    claim_limit BIGINT NOT NULL,
    state TEXT NOT NULL,
    CHECK (claim_seq >= 0 AND claim_seq < claim_limit)
);
-- At most claim_limit active tickets per ID number, day and product kind, across accounts.
CREATE UNIQUE INDEX tickets_id_claim ON tickets (id_blind, day, kind, claim_seq)
    WHERE state IN ('held', 'valid');
CREATE INDEX tickets_order ON tickets (order_id);

CREATE TABLE order_events (
    id BIGSERIAL PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    at BIGINT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id);
