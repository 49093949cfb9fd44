//! Metering for the "risk identification" product: every assessment answered is counted in
//! the node's call meter (the mapped file traffic protection counts in: exact, kept across
//! `kill -9`, no disk write per call) and folded into the database as the node's absolute
//! totals; usage is every node's totals added up, against the quota bought. Running out is
//! raised once as an error in the log; assessments go on (a booking path that stopped judging
//! would let every scalper through), and staff see it in the usage report.

use std::sync::atomic::Ordering;

use gatehouse_domain::risk::RiskUsage;

use crate::{RiskError, RiskService};

/// Usage as staff see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskUsageReport {
    pub used: RiskUsage,
    pub quota: Option<u64>,
    pub exhausted: bool,
}

impl RiskUsageReport {
    /// Assessments left of the quota (none without one).
    pub fn remaining(&self) -> Option<u64> {
        self.quota.map(|q| q.saturating_sub(self.used.calls()))
    }
}

impl RiskService {
    /// Saves this node's counters and reads usage across nodes.
    pub async fn fold_usage(&self) -> Result<RiskUsageReport, RiskError> {
        if let Some(m) = self.meter.get() {
            let t = m.risk_totals();
            let mine = RiskUsage {
                pass: t.pass,
                challenge: t.challenge,
                review: t.review,
                reject: t.reject,
            };
            self.store
                .save_risk_usage(&format!("{:016x}", m.node()), &mine, self.clock.now())
                .await?;
        }
        let used = self.store.risk_usage().await?;
        let quota = self.settings.quota;
        let exhausted = quota.is_some_and(|q| used.calls() >= q);
        if exhausted && !self.exhausted.swap(true, Ordering::Relaxed) {
            tracing::error!(
                used = used.calls(),
                quota,
                "risk identification quota used up"
            );
        }
        Ok(RiskUsageReport {
            used,
            quota,
            exhausted,
        })
    }
}
