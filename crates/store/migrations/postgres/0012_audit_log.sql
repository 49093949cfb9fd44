-- The tamper-evident audit log: records hash-chained in order of place (seq 1, 2, 3 … without
-- gaps; a taken place refuses a second writer, on any node), and the signed checkpoints of the
-- chain. Both are append-only: the triggers refuse changes, and the verifier catches whoever
-- drops them. No column holds personal data in clear: subjects are record ids, origins are
-- networks.

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor BIGINT,
    role TEXT,
    action TEXT NOT NULL,
    subject TEXT,
    field TEXT,
    purpose TEXT,
    origin TEXT,
    detail TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature BYTEA NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log: records are append-only' USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
