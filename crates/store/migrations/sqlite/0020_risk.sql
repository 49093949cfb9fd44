-- The risk engine (issue 12). Every decision with its reasons and the features it was made on
-- (append-only: the triggers refuse changes); the policies staff loaded, every version kept;
-- which versions run (one row); and the metered assessments, each node's counters as absolute
-- totals. No column holds personal data: decisions name an account id, and the features are
-- numbers.

CREATE TABLE risk_decisions (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    scenario TEXT NOT NULL,
    event TEXT NOT NULL,
    source TEXT NOT NULL,
    account_id INTEGER,
    level TEXT NOT NULL CHECK (level IN ('pass', 'challenge', 'review', 'reject')),
    score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    policy_version INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    shadow TEXT,
    features TEXT NOT NULL
);
CREATE INDEX risk_decisions_by_account ON risk_decisions (account_id, id);
CREATE INDEX risk_decisions_by_at ON risk_decisions (at);
CREATE TRIGGER risk_decisions_no_update BEFORE UPDATE ON risk_decisions
BEGIN
    SELECT RAISE(ABORT, 'risk decisions are append-only');
END;
CREATE TRIGGER risk_decisions_no_delete BEFORE DELETE ON risk_decisions
BEGIN
    SELECT RAISE(ABORT, 'risk decisions are append-only');
END;

CREATE TABLE risk_policies (
    version INTEGER PRIMARY KEY CHECK (version > 0),
    text TEXT NOT NULL,
    loaded_by INTEGER NOT NULL,
    loaded_at INTEGER NOT NULL
);

-- Which versions run. Version 1 is the policy Gatehouse ships, never stored, so the versions
-- are checked by the service rather than by a foreign key.
CREATE TABLE risk_policy_roles (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    live INTEGER CHECK (live > 0),
    shadow INTEGER CHECK (shadow > 0),
    set_by INTEGER NOT NULL,
    set_at INTEGER NOT NULL
);

CREATE TABLE risk_usage (
    node TEXT PRIMARY KEY,
    pass INTEGER NOT NULL CHECK (pass >= 0),
    challenge INTEGER NOT NULL CHECK (challenge >= 0),
    review INTEGER NOT NULL CHECK (review >= 0),
    reject INTEGER NOT NULL CHECK (reject >= 0),
    updated_at INTEGER NOT NULL
);
