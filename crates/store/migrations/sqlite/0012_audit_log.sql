-- The tamper-evident audit log: records hash-chained in order of place (seq 1, 2, 3 … without
-- gaps; a taken place refuses a second writer), and the signed checkpoints of the chain. Both
-- are append-only: the triggers refuse changes, and the verifier catches whoever drops them.
-- No column holds personal data in clear: subjects are record ids, origins are networks.

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor INTEGER,
    role TEXT,
    action TEXT NOT NULL,
    subject TEXT,
    field TEXT,
    purpose TEXT,
    origin TEXT,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log: records are append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log: records are append-only');
END;

CREATE TABLE audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    at INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit log: checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit log: checkpoints are append-only');
END;
