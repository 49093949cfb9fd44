-- No-shows (a valid ticket never checked in by the time its slot's entry closed) and the locks
-- the no-show rule places on accounts and ID numbers (by blind index).

CREATE TABLE no_shows (
    ticket_id TEXT PRIMARY KEY REFERENCES tickets (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    id_blind BYTEA NOT NULL,
    slot_id BIGINT NOT NULL REFERENCES slots (id),
    at BIGINT NOT NULL
);
CREATE INDEX no_shows_account ON no_shows (account_id, at);
CREATE INDEX no_shows_id ON no_shows (id_blind, at);

CREATE TABLE no_show_locks (
    id BIGSERIAL PRIMARY KEY,
    -- 'account' locks account_id; 'id_number' locks id_blind whichever account books it.
    subject TEXT NOT NULL CHECK (subject IN ('account', 'id_number')),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    id_blind BYTEA,
    locked_at BIGINT NOT NULL,
    until BIGINT NOT NULL,
    reason TEXT NOT NULL,
    lifted_at BIGINT,
    lifted_reason TEXT,
    CHECK ((subject = 'id_number') = (id_blind IS NOT NULL))
);
CREATE INDEX no_show_locks_active ON no_show_locks (until) WHERE lifted_at IS NULL;
