-- Gate devices with credentials of their own, check-ins (a ticket's first entry, at most one),
-- and the further entries offline gates upload for tickets already let in (double uses).

CREATE TABLE gate_devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- SHA-256 of the device's credential; the credential itself is never stored.
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
);

CREATE TABLE check_ins (
    -- One first entry per ticket: the key makes a second admission impossible.
    ticket_id TEXT PRIMARY KEY REFERENCES tickets (id),
    slot_id INTEGER NOT NULL REFERENCES slots (id),
    day TEXT NOT NULL,
    gate_id TEXT NOT NULL REFERENCES gate_devices (id),
    gate_name TEXT NOT NULL,
    at INTEGER NOT NULL,
    offline INTEGER NOT NULL CHECK (offline IN (0, 1))
);
CREATE INDEX check_ins_day ON check_ins (day, slot_id);

CREATE TABLE repeat_entries (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    day TEXT NOT NULL,
    gate_id TEXT NOT NULL REFERENCES gate_devices (id),
    gate_name TEXT NOT NULL,
    at INTEGER NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, gate_id, at)
);
CREATE INDEX repeat_entries_day ON repeat_entries (day);

-- Counting a slot's sold tickets (live check-in counts, no-shows) without scanning every ticket.
CREATE INDEX tickets_slot ON tickets (slot_id, state);
