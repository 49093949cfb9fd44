-- Traffic protection's metered calls: each node's counters as absolute totals (so saving them
-- again after a crash can never count a call twice); usage is their sum.

CREATE TABLE traffic_usage (
    node TEXT PRIMARY KEY,
    passed BIGINT NOT NULL CHECK (passed >= 0),
    refused BIGINT NOT NULL CHECK (refused >= 0),
    challenged BIGINT NOT NULL CHECK (challenged >= 0),
    blocked BIGINT NOT NULL CHECK (blocked >= 0),
    updated_at BIGINT NOT NULL
);
