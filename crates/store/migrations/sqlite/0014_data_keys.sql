-- Envelope encryption: each person's data key, wrapped by a version of the master key (the key
-- file or a KMS holds the master; this table holds only wrapped keys). Erasing an account
-- deletes its row here (crypto-shredding) and marks the account erased.

CREATE TABLE data_keys (
    subject TEXT PRIMARY KEY,
    master_version INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX data_keys_version ON data_keys (master_version);

ALTER TABLE accounts ADD COLUMN erased_at INTEGER;
