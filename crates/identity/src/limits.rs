//! Keyed rate limits for sign-in (per phone, per IP, per account), by the generic cell rate
//! algorithm: each key keeps one instant, its "theoretical arrival time". A key may spend a
//! burst at once and then one event per emission interval, so a limit that an attacker trips
//! releases gradually instead of locking the real person out for a fixed long spell.
//!
//! The algorithm and the bounded key table are traffic protection's
//! ([`gatehouse_shield::KeyedLimits`]); this is the sign-in side's interface to them: string
//! keys, the caller's clock, a peek without counting, and a reset after a successful sign-in.
//! Time is passed in. State is per process; with several nodes each node limits on its own.
//! Traffic protection's `phone` limits (counted by the code routes, shared through Redis when
//! configured) are the exact cross-node bound.

use gatehouse_shield::{Gcra, KeyedLimits};
use jiff::{SignedDuration, Timestamp};

/// `burst` events per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Rate {
    pub burst: u32,
    pub period_secs: u64,
}

impl Rate {
    pub const fn new(burst: u32, period_secs: u64) -> Self {
        Self { burst, period_secs }
    }

    fn gcra(self) -> Gcra {
        Gcra::new(
            self.burst,
            u32::try_from(self.period_secs).unwrap_or(u32::MAX),
        )
    }

    /// Microseconds between events once the burst is spent.
    #[cfg(test)]
    fn interval_us(self) -> i64 {
        let period_us =
            i64::try_from(self.period_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        period_us / i64::from(self.burst.max(1))
    }
}

/// Keys one sign-in limit holds at most (phones and addresses an attacker rotates cannot grow
/// it further; the oldest generation of keys is forgotten first).
const MAX_KEYS: usize = 1_000_000;

/// A rate limit over many keys.
pub struct KeyedLimiter {
    rate: Gcra,
    table: KeyedLimits,
}

fn micros(now: Timestamp) -> u64 {
    u64::try_from(now.as_microsecond()).unwrap_or(0)
}

fn wait(over: gatehouse_shield::OverLimit) -> SignedDuration {
    SignedDuration::from_micros(i64::try_from(over.retry_after_us).unwrap_or(i64::MAX))
}

impl KeyedLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate: rate.gcra(),
            table: KeyedLimits::new(MAX_KEYS),
        }
    }

    fn key(&self, key: &str) -> u64 {
        self.table.key(0, key.as_bytes())
    }

    /// Counts one event for `key` if the limit allows it; otherwise how long until it would.
    pub fn hit(&self, key: &str, now: Timestamp) -> Result<(), SignedDuration> {
        self.table
            .check(self.key(key), self.rate, micros(now))
            .map_err(wait)
    }

    /// Whether one more event would be allowed now, without counting it.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), SignedDuration> {
        self.table
            .peek(self.key(key), self.rate, micros(now))
            .map_err(wait)
    }

    /// Forgets a key (a successful sign-in clears its failure count).
    pub fn reset(&self, key: &str) {
        self.table.forget(self.key(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn a_burst_is_allowed_then_one_per_interval() {
        let l = KeyedLimiter::new(Rate::new(5, 60));
        for _ in 0..5 {
            l.hit("k", at(0)).unwrap();
        }
        let wait = l.hit("k", at(0)).unwrap_err();
        assert_eq!(wait, SignedDuration::from_secs(12));
        assert!(l.hit("k", at(11_999)).is_err());
        l.hit("k", at(12_000)).unwrap();
        // Other keys are unaffected.
        l.hit("other", at(0)).unwrap();
    }

    #[test]
    fn generous_rates_do_not_round_to_zero_and_stay_unlimited_in_practice() {
        let l = KeyedLimiter::new(Rate::new(100_000_000, 3600));
        for n in 0..10_000 {
            // Instants out of order, as threads racing for the lock see them.
            l.hit("ip", at(n % 3)).unwrap();
        }
    }

    #[test]
    fn check_does_not_count_and_reset_forgets() {
        let l = KeyedLimiter::new(Rate::new(1, 60));
        l.check("k", at(0)).unwrap();
        l.check("k", at(0)).unwrap();
        l.hit("k", at(0)).unwrap();
        assert!(l.check("k", at(1)).is_err());
        l.reset("k");
        l.hit("k", at(1)).unwrap();
    }

    proptest! {
        /// However events are spread, no window of `period` admits more than `burst` events
        /// plus the ones the leak has freed: over any span of length d, at most
        /// burst + d / interval events pass.
        #[test]
        fn no_span_admits_more_than_the_rate(gaps in proptest::collection::vec(0i64..5_000, 1..300)) {
            let rate = Rate::new(4, 20);
            let l = KeyedLimiter::new(rate);
            let mut t = 0;
            let mut admitted = Vec::new();
            for g in gaps {
                t += g;
                if l.hit("k", at(t)).is_ok() {
                    admitted.push(t);
                }
            }
            for (i, start) in admitted.iter().enumerate() {
                for (j, end) in admitted.iter().enumerate().skip(i) {
                    let span = end - start;
                    let allowed = i64::from(rate.burst) + span * 1000 / rate.interval_us();
                    prop_assert!(i64::try_from(j - i + 1).unwrap() <= allowed);
                }
            }
        }
    }
}
