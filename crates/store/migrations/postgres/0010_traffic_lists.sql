-- Traffic protection's block and allow lists, kept by staff (and by cleaning for its top
-- offenders). Addresses are stored canonical, as `network/prefix`.

CREATE TABLE traffic_lists (
    id BIGSERIAL PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('block', 'allow')),
    kind TEXT NOT NULL CHECK (kind IN ('ip', 'account', 'device')),
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_at BIGINT,
    added_by BIGINT REFERENCES accounts (id),
    added_at BIGINT NOT NULL
);
CREATE INDEX traffic_lists_expires ON traffic_lists (expires_at);
