-- Payments at licensed providers, the append-only money ledger of each order, refunds,
-- security events and daily reconciliation reports. Amounts are integer fen.

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    provider TEXT NOT NULL,
    channel TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    state TEXT NOT NULL CHECK (state IN ('open', 'paid', 'closed')),
    -- One provider transaction pays one payment, once.
    provider_txn TEXT UNIQUE,
    checkout TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_open ON payments (order_id) WHERE state = 'open';

CREATE TABLE money_lines (
    id BIGSERIAL PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    provider TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    -- The provider's transaction id (charge) or our refund number (refund), as the bill names it.
    reference TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (kind, reference)
);
CREATE INDEX money_lines_order ON money_lines (order_id, id);
CREATE INDEX money_lines_provider_at ON money_lines (provider, at);

-- The ledger is append-only, and refunds never exceed what the payment took: enforced here too,
-- whatever the code above does.
CREATE FUNCTION money_lines_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'money ledger: lines are append-only' USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER money_lines_no_change BEFORE UPDATE OR DELETE ON money_lines
    FOR EACH ROW EXECUTE FUNCTION money_lines_append_only();

CREATE FUNCTION money_lines_refund_bounded() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    left_fen BIGINT;
BEGIN
    IF NEW.kind = 'refund' THEN
        -- Serialise refunds of one payment across connections and nodes.
        PERFORM 1 FROM payments WHERE id = NEW.payment_id FOR UPDATE;
        SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount_fen ELSE -amount_fen END), 0)
            INTO left_fen FROM money_lines WHERE payment_id = NEW.payment_id;
        IF NEW.amount_fen > left_fen THEN
            RAISE EXCEPTION 'money ledger: refund beyond what was paid' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER money_lines_refund_bounded BEFORE INSERT ON money_lines
    FOR EACH ROW EXECUTE FUNCTION money_lines_refund_bounded();

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    provider TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    cause TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested', 'processing', 'succeeded', 'abnormal')),
    provider_refund_id TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX refunds_order ON refunds (order_id);
CREATE INDEX refunds_unfinished ON refunds (created_at) WHERE state IN ('requested', 'processing');

CREATE TABLE security_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL,
    ip TEXT
);
CREATE INDEX security_events_at ON security_events (at);

CREATE TABLE reconciliations (
    provider TEXT NOT NULL,
    day TEXT NOT NULL,
    ran_at BIGINT NOT NULL,
    ledger_lines BIGINT NOT NULL,
    bill_lines BIGINT NOT NULL,
    matched BIGINT NOT NULL,
    PRIMARY KEY (provider, day)
);

CREATE TABLE reconciliation_differences (
    provider TEXT NOT NULL,
    day TEXT NOT NULL,
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    line TEXT NOT NULL,
    reference TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    ledger_fen BIGINT,
    bill_fen BIGINT,
    PRIMARY KEY (provider, day, position),
    FOREIGN KEY (provider, day) REFERENCES reconciliations (provider, day) ON DELETE CASCADE
);
