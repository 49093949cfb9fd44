//! The `[breakers]` section of the configuration: one circuit breaker per dependency the server
//! calls (the database, the payment providers, the identity providers), each with when it opens
//! and for how long. See `gatehouse_domain::breaker` for what a breaker does.

use std::time::Duration;

use gatehouse_domain::breaker::BreakerPolicy;
use serde::{Deserialize, Serialize};

/// When one dependency's breaker opens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSettings {
    /// The sliding window outcomes are counted over, in milliseconds.
    pub window_ms: u64,
    /// No judgement before this many calls in the window.
    pub min_calls: u32,
    /// Open when this share of the window's calls failed (0 < r ≤ 1).
    pub max_failure_ratio: f64,
    /// Open when this share took longer than `slow_call_ms` (0 turns speed off).
    pub max_slow_ratio: f64,
    pub slow_call_ms: u64,
    /// How long an open breaker refuses calls before one probe is let through, in milliseconds.
    pub open_for_ms: u64,
}

impl From<BreakerPolicy> for BreakerSettings {
    fn from(p: BreakerPolicy) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            window_ms: ms(p.window),
            min_calls: p.min_calls,
            max_failure_ratio: p.max_failure_ratio,
            max_slow_ratio: p.max_slow_ratio.unwrap_or(0.0),
            slow_call_ms: ms(p.slow_call),
            open_for_ms: ms(p.open_for),
        }
    }
}

impl BreakerSettings {
    pub fn policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            window: Duration::from_millis(self.window_ms),
            min_calls: self.min_calls,
            max_failure_ratio: self.max_failure_ratio,
            max_slow_ratio: (self.max_slow_ratio > 0.0).then_some(self.max_slow_ratio),
            slow_call: Duration::from_millis(self.slow_call_ms),
            open_for: Duration::from_millis(self.open_for_ms),
        }
    }

    fn validate(&self, name: &str) -> anyhow::Result<()> {
        let ratio = |r: f64| r > 0.0 && r <= 1.0;
        anyhow::ensure!(
            ratio(self.max_failure_ratio),
            "breakers.{name}.max_failure_ratio must be in (0, 1], not {}",
            self.max_failure_ratio
        );
        anyhow::ensure!(
            self.max_slow_ratio == 0.0 || ratio(self.max_slow_ratio),
            "breakers.{name}.max_slow_ratio must be 0 (off) or in (0, 1], not {}",
            self.max_slow_ratio
        );
        anyhow::ensure!(
            self.min_calls >= 1,
            "breakers.{name}.min_calls must be at least 1"
        );
        anyhow::ensure!(
            (100..=3_600_000).contains(&self.window_ms),
            "breakers.{name}.window_ms must be 100..=3600000"
        );
        anyhow::ensure!(
            (100..=3_600_000).contains(&self.open_for_ms),
            "breakers.{name}.open_for_ms must be 100..=3600000"
        );
        anyhow::ensure!(
            self.slow_call_ms >= 1,
            "breakers.{name}.slow_call_ms must be at least 1"
        );
        Ok(())
    }
}

/// Every dependency's breaker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakers {
    /// Booking and check-in writes (each committer has its own breaker with these settings).
    pub database: BreakerSettings,
    /// Each payment provider.
    pub payments: BreakerSettings,
    /// The face-verification provider and the sign-in providers (Alipay, WeChat), each.
    pub identity: BreakerSettings,
}

impl Default for Breakers {
    fn default() -> Self {
        Self {
            database: BreakerPolicy::database().into(),
            payments: BreakerPolicy::default().into(),
            identity: BreakerPolicy::default().into(),
        }
    }
}

impl Breakers {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.database.validate("database")?;
        self.payments.validate("payments")?;
        self.identity.validate("identity")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_round_trip_and_nonsense_is_refused() {
        let defaults = Breakers::default();
        defaults.validate().unwrap();
        assert_eq!(defaults.database.policy(), BreakerPolicy::database());
        assert_eq!(defaults.payments.policy(), BreakerPolicy::default());
        let mut bad = defaults.clone();
        bad.payments.max_failure_ratio = 1.5;
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("breakers.payments.max_failure_ratio"), "{e}");
        let mut bad = defaults;
        bad.database.open_for_ms = 0;
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("breakers.database.open_for_ms"), "{e}");
    }
}
