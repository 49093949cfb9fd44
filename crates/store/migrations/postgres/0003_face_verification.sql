-- Face verification (real-person check): products may require it; visitors' consents and the
-- verifications themselves. No face image is stored, only the provider's id, the outcome and
-- times; the verified ID number is kept as its blind index.
ALTER TABLE products ADD COLUMN face_verification_required BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    purpose TEXT NOT NULL,
    text_version TEXT NOT NULL,
    collected TEXT NOT NULL,
    reason TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    given_at BIGINT NOT NULL,
    withdrawn_at BIGINT
);
CREATE INDEX consents_account ON consents (account_id, purpose);

CREATE TABLE face_verifications (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    consent_id TEXT NOT NULL REFERENCES consents (id),
    id_blind BYTEA NOT NULL,
    provider TEXT NOT NULL,
    certify_id TEXT NOT NULL UNIQUE,
    callback_token_hash BYTEA NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'passed', 'failed')),
    detail TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    completed_at BIGINT,
    valid_until BIGINT
);
CREATE INDEX face_verifications_account ON face_verifications (account_id, state);
