-- Organisations that book as groups (schools, companies, tour operators), registered by a
-- visitor account and, where the museum requires it, approved by staff.

CREATE TABLE organisations (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    decision_reason TEXT
);
CREATE INDEX organisations_account ON organisations (account_id);
CREATE INDEX organisations_state ON organisations (state, created_at);
