-- No-shows (a valid ticket never checked in by the time its slot's entry closed) and the locks
-- the no-show rule places on accounts and ID numbers (by blind index).

CREATE TABLE no_shows (
    ticket_id TEXT PRIMARY KEY REFERENCES tickets (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    id_blind BLOB NOT NULL,
    slot_id INTEGER NOT NULL REFERENCES slots (id),
    at INTEGER NOT NULL
);
CREATE INDEX no_shows_account ON no_shows (account_id, at);
CREATE INDEX no_shows_id ON no_shows (id_blind, at);

CREATE TABLE no_show_locks (
    id INTEGER PRIMARY KEY,
    -- 'account' locks account_id; 'id_number' locks id_blind whichever account books it.
    subject TEXT NOT NULL CHECK (subject IN ('account', 'id_number')),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    id_blind BLOB,
    locked_at INTEGER NOT NULL,
    until INTEGER NOT NULL,
    reason TEXT NOT NULL,
    lifted_at INTEGER,
    lifted_reason TEXT,
    CHECK ((subject = 'id_number') = (id_blind IS NOT NULL))
);
CREATE INDEX no_show_locks_active ON no_show_locks (until) WHERE lifted_at IS NULL;
