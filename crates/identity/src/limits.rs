//! Keyed rate limits for sign-in (per phone, per IP, per account), by the generic cell rate
//! algorithm: each key keeps one instant, its "theoretical arrival time". A key may spend a
//! burst at once and then one event per emission interval, so a limit that an attacker trips
//! releases gradually instead of locking the real person out for a fixed long spell.
//!
//! Time is passed in. State is per process; with several nodes each node limits on its own
//! (a shared limiter in Redis belongs to the traffic-protection work).

use std::collections::HashMap;
use std::sync::Mutex;

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

    /// Microseconds between events once the burst is spent (microseconds, so that generous
    /// rates such as a benchmark's 10^8 per hour do not round to zero).
    fn interval_us(self) -> i64 {
        let period_us =
            i64::try_from(self.period_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        period_us / i64::from(self.burst.max(1))
    }

    fn tolerance_us(self) -> i64 {
        self.interval_us()
            .saturating_mul(i64::from(self.burst.max(1)) - 1)
    }
}

const SHARDS: usize = 16;
/// Keys per shard before spent keys are swept.
const SHARD_SWEEP_AT: usize = 65_536;

/// A rate limit over many keys.
pub struct KeyedLimiter {
    rate: Rate,
    shards: Vec<Mutex<HashMap<String, i64>>>,
}

impl KeyedLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn with_shard<T>(&self, key: &str, f: impl FnOnce(&mut HashMap<String, i64>) -> T) -> T {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let index = usize::try_from(hash % SHARDS as u64).unwrap_or(0);
        let shard = self.shards.get(index).or(self.shards.first());
        let mut map = match shard {
            Some(m) => m.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            None => return f(&mut HashMap::new()),
        };
        f(&mut map)
    }

    /// Counts one event for `key` if the limit allows it; otherwise how long until it would.
    pub fn hit(&self, key: &str, now: Timestamp) -> Result<(), SignedDuration> {
        let now_us = now.as_microsecond();
        let (interval, tolerance) = (self.rate.interval_us(), self.rate.tolerance_us());
        self.with_shard(key, |map| {
            if map.len() >= SHARD_SWEEP_AT {
                map.retain(|_, tat| *tat > now_us);
            }
            let tat = map.get(key).copied().unwrap_or(now_us).max(now_us);
            let wait = tat - tolerance - now_us;
            if wait > 0 {
                return Err(SignedDuration::from_micros(wait));
            }
            map.insert(key.to_owned(), tat.saturating_add(interval));
            Ok(())
        })
    }

    /// Whether one more event would be allowed now, without counting it.
    pub fn check(&self, key: &str, now: Timestamp) -> Result<(), SignedDuration> {
        let now_us = now.as_microsecond();
        let tolerance = self.rate.tolerance_us();
        self.with_shard(key, |map| {
            let tat = map.get(key).copied().unwrap_or(now_us).max(now_us);
            let wait = tat - tolerance - now_us;
            if wait > 0 {
                Err(SignedDuration::from_micros(wait))
            } else {
                Ok(())
            }
        })
    }

    /// Forgets a key (a successful sign-in clears its failure count).
    pub fn reset(&self, key: &str) {
        self.with_shard(key, |map| map.remove(key));
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
