-- The risk engine (issue 12). Every decision with its reasons and the features it was made on
-- (append-only: the triggers refuse changes); the policies staff loaded, every version kept;
-- which versions run (one row); and the metered assessments, each node's counters as absolute
-- totals. No column holds personal data: decisions name an account id, and the features are
-- numbers.

CREATE TABLE risk_decisions (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    scenario TEXT NOT NULL,
    event TEXT NOT NULL,
    source TEXT NOT NULL,
    account_id BIGINT,
    level TEXT NOT NULL CHECK (level IN ('pass', 'challenge', 'review', 'reject')),
    score BIGINT NOT NULL CHECK (score BETWEEN 0 AND 100),
    policy_version BIGINT NOT NULL,
    reasons TEXT NOT NULL,
    shadow TEXT,
    features TEXT NOT NULL
);
CREATE INDEX risk_decisions_by_account ON risk_decisions (account_id, id);
CREATE INDEX risk_decisions_by_at ON risk_decisions (at);
CREATE FUNCTION risk_decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'risk decisions are append-only' USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER risk_decisions_no_change BEFORE UPDATE OR DELETE ON risk_decisions
    FOR EACH ROW EXECUTE FUNCTION risk_decisions_append_only();

CREATE TABLE risk_policies (
    version BIGINT PRIMARY KEY CHECK (version > 0),
    text TEXT NOT NULL,
    loaded_by BIGINT NOT NULL,
    loaded_at BIGINT NOT NULL
);

-- Which versions run. Version 1 is the policy Gatehouse ships, never stored, so the versions
-- are checked by the service rather than by a foreign key.
CREATE TABLE risk_policy_roles (
    one BIGINT PRIMARY KEY CHECK (one = 1),
    live BIGINT CHECK (live > 0),
    shadow BIGINT CHECK (shadow > 0),
    set_by BIGINT NOT NULL,
    set_at BIGINT NOT NULL
);

CREATE TABLE risk_usage (
    node TEXT PRIMARY KEY,
    pass BIGINT NOT NULL CHECK (pass >= 0),
    challenge BIGINT NOT NULL CHECK (challenge >= 0),
    review BIGINT NOT NULL CHECK (review >= 0),
    reject BIGINT NOT NULL CHECK (reject >= 0),
    updated_at BIGINT NOT NULL
);
