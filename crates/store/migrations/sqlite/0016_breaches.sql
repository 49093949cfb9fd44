-- Personal-data breaches and the notice to each person affected. The texts are written by
-- staff to describe the breach (no personal data); people are account numbers.

CREATE TABLE breaches (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    what_happened TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    discovered_at INTEGER NOT NULL,
    fields TEXT NOT NULL,
    systems TEXT NOT NULL,
    measures TEXT NOT NULL,
    advice TEXT NOT NULL,
    contact TEXT NOT NULL,
    opened_by INTEGER NOT NULL REFERENCES accounts (id),
    opened_at INTEGER NOT NULL,
    deadline_at INTEGER NOT NULL,
    affected INTEGER NOT NULL,
    unattributable TEXT NOT NULL,
    escalated_near_at INTEGER,
    escalated_missed_at INTEGER
);

CREATE TABLE breach_notices (
    breach_id TEXT NOT NULL REFERENCES breaches (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    channel TEXT CHECK (channel IN ('sms', 'in_app')),
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at INTEGER,
    PRIMARY KEY (breach_id, account_id)
);
CREATE INDEX breach_notices_unsent ON breach_notices (breach_id) WHERE state <> 'sent';
CREATE INDEX breach_notices_account ON breach_notices (account_id) WHERE channel = 'in_app';
