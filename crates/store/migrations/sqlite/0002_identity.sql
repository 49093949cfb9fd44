-- Identity: roles instead of an admin flag, phone sign-in, sessions instead of one token per
-- account, linked provider subjects, one-time codes, frequent visitors, staff break-glass
-- credentials and the audit trail.
--
-- SQLite cannot drop a UNIQUE column, so `accounts` is rebuilt inside the migration's
-- transaction with foreign keys deferred: the old rows are copied aside, the table dropped
-- (orders now dangle), recreated and refilled (they no longer dangle); a row lost on the way
-- would fail the commit. Each existing token becomes a session that expires 30 days after this
-- migration.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE accounts_old AS SELECT * FROM accounts;

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    token_hash BLOB NOT NULL UNIQUE,
    refresh_hash BLOB UNIQUE,
    family BLOB NOT NULL,
    method TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    refresh_expires_at INTEGER,
    revoked_at INTEGER
);
INSERT INTO sessions (account_id, token_hash, family, method, created_at, expires_at)
    SELECT id, token_hash, randomblob(16), 'console', created_at,
           CAST(unixepoch('subsec') * 1000 AS INTEGER) + 30 * 86400000
    FROM accounts_old;

DROP TABLE accounts;
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT 'visitor',
    phone_index BLOB,
    phone_sealed BLOB,
    locked_until INTEGER,
    created_at INTEGER NOT NULL
);
INSERT INTO accounts (id, display_name, roles, locked_until, created_at)
    SELECT id, display_name, CASE WHEN is_admin THEN 'administrator' ELSE 'visitor' END,
           locked_until, created_at
    FROM accounts_old;
DROP TABLE accounts_old;

CREATE UNIQUE INDEX accounts_phone ON accounts (phone_index) WHERE phone_index IS NOT NULL;
CREATE INDEX sessions_account ON sessions (account_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_family ON sessions (family);

CREATE TABLE account_links (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE TABLE otp_challenges (
    phone_index BLOB PRIMARY KEY,
    code_mac BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts_left INTEGER NOT NULL
);

CREATE TABLE frequent_visitors (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    name BLOB NOT NULL,
    id_kind TEXT NOT NULL,
    id_number BLOB NOT NULL,
    id_blind BLOB NOT NULL,
    phone BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_id, id_blind)
);

CREATE TABLE staff_credentials (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id),
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    totp_secret BLOB NOT NULL,
    last_totp_step INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor INTEGER,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);

