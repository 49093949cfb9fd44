-- Measures staff take against an account after risk control's findings (issue 12): a warning,
-- no refunds, a suspension (until it ends) or a ban (until lifted), with who decided, why and
-- the notice the visitor is shown; lifting is recorded, never a deletion.

CREATE TABLE risk_measures (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('warning', 'no_refunds', 'suspension', 'ban')),
    until_at BIGINT,
    reason TEXT NOT NULL,
    notice TEXT NOT NULL,
    decided_by BIGINT NOT NULL,
    decided_at BIGINT NOT NULL,
    lifted_by BIGINT,
    lifted_at BIGINT,
    lift_reason TEXT,
    CHECK (kind <> 'suspension' OR until_at IS NOT NULL),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);
CREATE INDEX risk_measures_by_account ON risk_measures (account_id, id);
CREATE INDEX risk_measures_in_force ON risk_measures (id) WHERE lifted_at IS NULL;
