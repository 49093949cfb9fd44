-- Data-subject requests: export, correction, erasure, with a deadline and a status. The
-- person's own words are sealed under their data key (emptied when they are erased).

CREATE TABLE data_requests (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('export', 'correction', 'erasure')),
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'done', 'refused')),
    detail BLOB NOT NULL,
    channel TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    handled_by INTEGER REFERENCES accounts (id),
    outcome TEXT,
    closed_at INTEGER
);
CREATE INDEX data_requests_due ON data_requests (due_at) WHERE status IN ('open', 'in_progress');
CREATE INDEX data_requests_account ON data_requests (account_id, received_at);
