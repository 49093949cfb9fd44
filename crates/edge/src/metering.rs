//! Metering for the "traffic protection" product: every call the edge handles (but `/health`)
//! is counted in the node's call meter (a mapped file: exact, and kept across `kill -9`, with no
//! disk write per call), and the meter is folded into the database at start and every few
//! seconds as the node's absolute totals. Usage is every node's totals added up; against the
//! policy's `[metering] quota` it decides what happens when the calls bought are used up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gatehouse_domain::traffic::Usage;
use gatehouse_meter::{CallMeter, Counted};
use gatehouse_shield::{Exhaustion, Metering};

use crate::{Edge, ListError};

/// Usage as staff see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageReport {
    pub used: Usage,
    pub metering: Metering,
    pub exhausted: bool,
}

impl UsageReport {
    /// Calls left of the quota (none without one).
    pub fn remaining(&self) -> Option<u64> {
        self.metering
            .quota
            .map(|q| q.saturating_sub(self.used.calls()))
    }
}

#[derive(Default)]
pub(crate) struct MeterState {
    pub(crate) meter: std::sync::OnceLock<Arc<CallMeter>>,
    pub(crate) exhausted: AtomicBool,
}

fn usage_of(t: gatehouse_meter::Totals) -> Usage {
    Usage {
        passed: t.passed,
        refused: t.refused,
        challenged: t.challenged,
        blocked: t.blocked,
    }
}

impl Edge {
    /// Counts calls in `meter` from now on (set once).
    pub fn attach_meter(&self, meter: Arc<CallMeter>) {
        let _ = self.metering.meter.set(meter);
    }

    /// The node's call meter, which risk control counts its assessments in too.
    pub fn meter(&self) -> Option<Arc<CallMeter>> {
        self.metering.meter.get().cloned()
    }

    pub(crate) fn count(&self, kind: Counted) {
        if let Some(m) = self.metering.meter.get() {
            m.count(kind);
        }
    }

    /// Whether the quota is used up and the policy says what to do about it.
    pub(crate) fn exhaustion(&self) -> Option<Exhaustion> {
        if !self.metering.exhausted.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.shield.policy().metering.on_exhaustion)
    }

    /// Saves this node's counters and reads usage across nodes; raises the alarm once when the
    /// quota is first used up.
    pub async fn fold_usage(&self) -> Result<UsageReport, ListError> {
        let metering = self.shield.policy().metering;
        let store = self.store.as_ref().ok_or(ListError::NoStore)?;
        if let Some(m) = self.metering.meter.get() {
            let node = format!("{:016x}", m.node());
            store
                .save_usage(&node, &usage_of(m.totals()), self.clock.now())
                .await?;
        }
        let used = store.usage().await?;
        let exhausted = metering.quota.is_some_and(|q| used.calls() >= q);
        let was = self.metering.exhausted.swap(exhausted, Ordering::Relaxed);
        if exhausted && !was {
            tracing::error!(
                used = used.calls(),
                quota = metering.quota,
                "traffic protection quota used up"
            );
            self.security_event(
                "traffic_quota_exhausted",
                format!(
                    "{} of {} calls used; on_exhaustion = {:?}",
                    used.calls(),
                    metering.quota.unwrap_or(0),
                    metering.on_exhaustion
                ),
            )
            .await;
        }
        Ok(UsageReport {
            used,
            metering,
            exhausted,
        })
    }
}
