-- Identity: roles instead of an admin flag, phone sign-in, sessions instead of one token per
-- account, linked provider subjects, one-time codes, frequent visitors, staff break-glass
-- credentials and the audit trail. Each existing token becomes a session that expires 30 days
-- after this migration.

ALTER TABLE accounts ADD COLUMN roles TEXT NOT NULL DEFAULT 'visitor';
ALTER TABLE accounts ADD COLUMN phone_index BYTEA;
ALTER TABLE accounts ADD COLUMN phone_sealed BYTEA;
UPDATE accounts SET roles = 'administrator' WHERE is_admin;
CREATE UNIQUE INDEX accounts_phone ON accounts (phone_index) WHERE phone_index IS NOT NULL;

CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    token_hash BYTEA NOT NULL UNIQUE,
    refresh_hash BYTEA UNIQUE,
    family BYTEA NOT NULL,
    method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    refresh_expires_at BIGINT,
    revoked_at BIGINT
);
INSERT INTO sessions (account_id, token_hash, family, method, created_at, expires_at)
    SELECT id, token_hash, decode(md5(random()::text), 'hex'), 'console', created_at,
           (extract(epoch FROM now()) * 1000)::bigint + 30::bigint * 86400000
    FROM accounts;
ALTER TABLE accounts DROP COLUMN token_hash;
ALTER TABLE accounts DROP COLUMN is_admin;
CREATE INDEX sessions_account ON sessions (account_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_family ON sessions (family);

CREATE TABLE account_links (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE TABLE otp_challenges (
    phone_index BYTEA PRIMARY KEY,
    code_mac BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts_left BIGINT NOT NULL
);

CREATE TABLE frequent_visitors (
    id TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    name BYTEA NOT NULL,
    id_kind TEXT NOT NULL,
    id_number BYTEA NOT NULL,
    id_blind BYTEA NOT NULL,
    phone BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (account_id, id_blind)
);

CREATE TABLE staff_credentials (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id),
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    totp_secret BYTEA NOT NULL,
    last_totp_step BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor BIGINT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
