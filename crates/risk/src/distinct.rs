//! Distinct values per key over a sliding window: ID numbers booked by one account, accounts
//! seen on one device or phone, payment accounts per account. A key keeps at most `max`
//! values, each with the bucket it was last seen in; when a new value finds the key full, the
//! value seen longest ago makes room, so the count saturates at `max` (reported as such) and
//! a key's memory is bounded as the table's key count is.
//!
//! Values are `u64`s: blind indexes and other keyed MACs are uniformly random already, so
//! [`value_of`] takes their first eight bytes; other identifiers should be hashed by the
//! caller with a key of its own before they get here.

use std::hash::Hash;

use crate::bounded::Bounded;
use crate::window::Window;
use crate::Millis;

/// The first eight bytes of a blind index or MAC (fewer bytes are zero-padded).
pub fn value_of(mac: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    for (to, from) in first.iter_mut().zip(mac) {
        *to = *from;
    }
    u64::from_be_bytes(first)
}

/// How many distinct values a key had in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistinctCount {
    pub count: usize,
    /// The key holds as many values as it keeps: there may have been more.
    pub saturated: bool,
}

/// Distinct values per key over a sliding window, for at most `capacity` keys of at most
/// `max` values each.
#[derive(Debug)]
pub struct Distinct<K> {
    bucket_ms: Millis,
    buckets: i64,
    max: usize,
    table: Bounded<K, Vec<(u64, i64)>>,
}

impl<K: Hash + Eq> Distinct<K> {
    /// Distinct values over `window` (see [`Window::bucket_ms`]), at most `max` (at least one)
    /// per key, for at most `capacity` keys.
    pub fn new(window: Window, max: usize, capacity: usize) -> Self {
        Self {
            bucket_ms: window.bucket_ms(),
            buckets: i64::from(window.bucket_count()),
            max: max.max(1),
            table: Bounded::new(capacity),
        }
    }

    /// `value` seen for `key` at `at`; the distinct count in the window ending at `at`.
    pub fn add(&mut self, key: K, value: u64, at: Millis) -> DistinctCount {
        let bucket = Window::bucket_of(self.bucket_ms, at);
        let max = self.max;
        let values = self.table.touch(key, at, Vec::new);
        if let Some((_, last)) = values.iter_mut().find(|(v, _)| *v == value) {
            *last = (*last).max(bucket);
        } else if values.len() < max {
            values.push((value, bucket));
        } else if let Some(oldest) = values.iter_mut().min_by_key(|(_, last)| *last) {
            *oldest = (value, bucket);
        }
        let window_start = bucket - self.buckets;
        values.retain(|(_, last)| *last > window_start);
        Self::counted(values.len(), max)
    }

    /// The distinct count for `key` in the window ending at `at`.
    pub fn count(&self, key: &K, at: Millis) -> DistinctCount {
        let bucket = Window::bucket_of(self.bucket_ms, at);
        let values = self.table.get(key).map_or(&[][..], Vec::as_slice);
        let live = values
            .iter()
            .filter(|(_, last)| *last > bucket - self.buckets)
            .count();
        Self::counted(live, self.max)
    }

    /// The distinct count for `key` if `extra` were seen now too: what an assessment reads,
    /// so that the account (or ID numbers) asking counts as one of the key's own.
    pub fn count_with(&self, key: &K, extra: &[u64], at: Millis) -> DistinctCount {
        let bucket = Window::bucket_of(self.bucket_ms, at);
        let values = self.table.get(key).map_or(&[][..], Vec::as_slice);
        let live = |v: &u64| {
            values
                .iter()
                .any(|(x, last)| x == v && *last > bucket - self.buckets)
        };
        let mut new: Vec<u64> = extra.iter().copied().filter(|v| !live(v)).collect();
        new.sort_unstable();
        new.dedup();
        let count = self.count(key, at).count + new.len();
        Self::counted(count, self.max)
    }

    fn counted(live: usize, max: usize) -> DistinctCount {
        DistinctCount {
            count: live,
            saturated: live >= max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: Window = Window {
        span_ms: 86_400_000,
        buckets: 24,
    };

    #[test]
    fn counting_with_the_asker_adds_only_values_not_already_live() {
        let mut d = Distinct::new(DAY, 8, 100);
        assert_eq!(
            d.count_with(&"dev", &[7], 0).count,
            1,
            "a new key: the asker alone"
        );
        d.add("dev", 1, 0);
        d.add("dev", 2, 0);
        assert_eq!(d.count_with(&"dev", &[2], 10).count, 2, "already counted");
        assert_eq!(d.count_with(&"dev", &[3, 3, 4], 10).count, 4);
        assert_eq!(d.count_with(&"dev", &[], 10).count, 2);
        assert_eq!(
            d.count_with(&"dev", &[1], 86_400_000 * 2).count,
            1,
            "old values left"
        );
    }

    #[test]
    fn repeated_values_count_once_and_old_ones_leave() {
        let mut d = Distinct::new(DAY, 8, 100);
        assert_eq!(d.add("acct", 1, 0).count, 1);
        assert_eq!(d.add("acct", 1, 10).count, 1, "the same ID number again");
        assert_eq!(d.add("acct", 2, 3_600_000).count, 2);
        assert_eq!(
            d.count(&"acct", 86_400_000).count,
            1,
            "value 1's hour has left the day"
        );
        assert_eq!(d.count(&"other", 0).count, 0);
    }

    #[test]
    fn a_full_key_saturates_and_says_so() {
        let mut d = Distinct::new(DAY, 3, 100);
        for v in 0..10 {
            d.add("device", v, v as i64 * 1_000);
        }
        let c = d.count(&"device", 10_000);
        assert_eq!(
            c,
            DistinctCount {
                count: 3,
                saturated: true
            }
        );
        assert!(!d.add("device-2", 1, 0).saturated);
    }

    #[test]
    fn value_of_takes_the_first_eight_bytes() {
        assert_eq!(
            value_of(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            0x0102_0304_0506_0708
        );
        assert_eq!(value_of(&[1]), 0x0100_0000_0000_0000);
        let mut one = Distinct::new(DAY, 0, 10);
        assert!(
            one.add(1u8, 5, 0).saturated,
            "a key keeps at least one value"
        );
    }

    proptest! {
        /// Below saturation, in time order, the count is the number of distinct values whose
        /// latest sighting lies among the window's buckets.
        #[test]
        fn counts_match_a_brute_force_model(
            steps in proptest::collection::vec((0u8..3, 0u64..12, 0i64..40_000), 1..150),
        ) {
            let window = Window { span_ms: 60_000, buckets: 6 };
            let bucket_ms = window.bucket_ms();
            let mut d = Distinct::new(window, 64, 16);
            let mut at = 0i64;
            let mut seen: Vec<(u8, u64, i64)> = Vec::new();
            for (key, value, gap) in steps {
                at += gap / 10;
                seen.push((key, value, at));
                let got = d.add(key, value, at);
                let now = at.div_euclid(bucket_ms);
                let mut live: Vec<u64> = seen
                    .iter()
                    .filter(|(k, _, t)| *k == key && t.div_euclid(bucket_ms) > now - 6)
                    .map(|(_, v, _)| *v)
                    .collect();
                live.sort_unstable();
                live.dedup();
                prop_assert_eq!(got.count, live.len());
                prop_assert!(!got.saturated);
            }
        }
    }
}
