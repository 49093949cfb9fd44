-- Traffic protection's metered calls: each node's counters as absolute totals (so saving them
-- again after a crash can never count a call twice); usage is their sum.

CREATE TABLE traffic_usage (
    node TEXT PRIMARY KEY,
    passed INTEGER NOT NULL CHECK (passed >= 0),
    refused INTEGER NOT NULL CHECK (refused >= 0),
    challenged INTEGER NOT NULL CHECK (challenged >= 0),
    blocked INTEGER NOT NULL CHECK (blocked >= 0),
    updated_at INTEGER NOT NULL
);
