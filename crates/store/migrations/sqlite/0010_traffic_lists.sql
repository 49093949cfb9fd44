-- Traffic protection's block and allow lists, kept by staff (and by cleaning for its top
-- offenders). Addresses are stored canonical, as `network/prefix`.

CREATE TABLE traffic_lists (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('block', 'allow')),
    kind TEXT NOT NULL CHECK (kind IN ('ip', 'account', 'device')),
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_at INTEGER,
    added_by INTEGER REFERENCES accounts (id),
    added_at INTEGER NOT NULL
);
CREATE INDEX traffic_lists_expires ON traffic_lists (expires_at);
