//! Velocities: how many times something happened per key in the last `span` (bookings per ID
//! number in the last hour, joins per /24 in the last minute). Each key keeps a ring of counts,
//! one per `span / buckets`; a count covers the current bucket and the `buckets - 1` before
//! it, so "the last hour" is exact to within one bucket. Events arrive in time order (online);
//! one older than the ring is ignored rather than counted into the wrong bucket.

use std::hash::Hash;

use crate::bounded::Bounded;
use crate::Millis;

/// A sliding window: its length, and how many buckets it is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub span_ms: Millis,
    pub buckets: u32,
}

impl Window {
    /// How many buckets it is counted in: at least one.
    pub fn bucket_count(&self) -> u32 {
        self.buckets.max(1)
    }

    /// The window's bucket length: at least 1 ms.
    pub fn bucket_ms(&self) -> Millis {
        (self.span_ms / Millis::from(self.bucket_count())).max(1)
    }

    pub(crate) fn bucket_of(bucket_ms: Millis, at: Millis) -> i64 {
        at.div_euclid(bucket_ms)
    }
}

/// One key's counts: bucket `newest` and the `len - 1` before it.
#[derive(Debug)]
struct Ring {
    newest: i64,
    counts: Box<[u32]>,
}

impl Ring {
    fn slot(&self, bucket: i64) -> Option<usize> {
        let len = i64::try_from(self.counts.len()).ok()?;
        usize::try_from(bucket.rem_euclid(len)).ok()
    }

    fn add(&mut self, bucket: i64, n: u32) {
        let len = i64::try_from(self.counts.len()).unwrap_or(i64::MAX);
        if bucket > self.newest {
            // The buckets the ring moves over start again from zero.
            let moved = (bucket - self.newest).min(len);
            for b in bucket - moved + 1..=bucket {
                if let Some(c) = self.slot(b).and_then(|s| self.counts.get_mut(s)) {
                    *c = 0;
                }
            }
            self.newest = bucket;
        }
        if bucket <= self.newest - len {
            return;
        }
        if let Some(c) = self.slot(bucket).and_then(|s| self.counts.get_mut(s)) {
            *c = c.saturating_add(n);
        }
    }

    fn count(&self, bucket: i64) -> u32 {
        let len = i64::try_from(self.counts.len()).unwrap_or(i64::MAX);
        let low = (bucket - len + 1).max(self.newest - len + 1);
        let high = bucket.min(self.newest);
        (low..=high)
            .filter_map(|b| self.slot(b).and_then(|s| self.counts.get(s)))
            .fold(0u32, |sum, c| sum.saturating_add(*c))
    }
}

/// Counts per key over a sliding window, for at most `capacity` keys.
#[derive(Debug)]
pub struct Velocity<K> {
    bucket_ms: Millis,
    buckets: usize,
    table: Bounded<K, Ring>,
}

impl<K: Hash + Eq> Velocity<K> {
    /// Counts over `window` (see [`Window::bucket_ms`]) for at most `capacity` keys.
    pub fn new(window: Window, capacity: usize) -> Self {
        Self {
            bucket_ms: window.bucket_ms(),
            buckets: usize::try_from(window.bucket_count()).unwrap_or(1),
            table: Bounded::new(capacity),
        }
    }

    /// `n` more for `key` at `at`; the count, these included, in the window that ends at `at`
    /// (or at the key's latest event, for one that arrived late).
    pub fn add(&mut self, key: K, at: Millis, n: u32) -> u32 {
        let bucket = Window::bucket_of(self.bucket_ms, at);
        let buckets = self.buckets;
        let ring = self.table.touch(key, at, || Ring {
            newest: bucket,
            counts: vec![0; buckets].into_boxed_slice(),
        });
        ring.add(bucket, n);
        ring.count(ring.newest)
    }

    /// The count for `key` in the window that ends at `at`.
    pub fn count(&self, key: &K, at: Millis) -> u32 {
        let bucket = Window::bucket_of(self.bucket_ms, at);
        self.table.get(key).map_or(0, |ring| ring.count(bucket))
    }

    /// Keys held now.
    pub fn keys(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: Window = Window {
        span_ms: 3_600_000,
        buckets: 12,
    };

    #[test]
    fn counts_leave_the_window_bucket_by_bucket() {
        let mut v = Velocity::new(HOUR, 100);
        let five_min = 300_000;
        assert_eq!(v.add("id-a", 0, 1), 1);
        assert_eq!(v.add("id-a", five_min, 2), 3);
        assert_eq!(v.add("id-b", five_min, 1), 1, "keys are counted apart");
        assert_eq!(v.count(&"id-a", 3_600_000 - 1), 3, "still inside the hour");
        assert_eq!(v.count(&"id-a", 3_600_000), 2, "the first bucket has left");
        assert_eq!(v.count(&"id-a", 3_600_000 + five_min), 0);
        // A long gap clears the ring; counting starts again.
        assert_eq!(v.add("id-a", 10 * 3_600_000, 1), 1);
        assert_eq!(v.count(&"nobody", 0), 0);
    }

    #[test]
    fn an_event_older_than_the_ring_is_not_counted_in_a_newer_bucket() {
        let mut v = Velocity::new(HOUR, 100);
        v.add(1u8, 3 * 3_600_000, 1);
        assert_eq!(v.add(1u8, 0, 5), 1, "three hours late: ignored");
        assert_eq!(
            v.add(1u8, 3 * 3_600_000 - 300_000, 5),
            6,
            "late but inside the hour"
        );
    }

    #[test]
    fn degenerate_windows_are_one_bucket_of_at_least_a_millisecond() {
        let none = Window {
            span_ms: 1_000,
            buckets: 0,
        };
        assert_eq!((none.bucket_count(), none.bucket_ms()), (1, 1_000));
        let tiny = Window {
            span_ms: 5,
            buckets: 10,
        };
        assert_eq!(tiny.bucket_ms(), 1);
        let mut v = Velocity::new(none, 10);
        assert_eq!(v.add(1u8, 0, 1), 1);
        assert_eq!(v.add(1u8, 999, 1), 2);
        assert_eq!(v.add(1u8, 1_000, 1), 1);
    }

    proptest! {
        /// In time order, the count is the sum over the events whose bucket lies among the
        /// window's buckets ending at the query's.
        #[test]
        fn counts_match_a_brute_force_model(
            steps in proptest::collection::vec((0u8..4, 0i64..900_000, 1u32..5), 1..200),
        ) {
            let window = Window { span_ms: 600_000, buckets: 6 };
            let bucket_ms = window.bucket_ms();
            let mut v = Velocity::new(window, 64);
            let mut at = 0i64;
            let mut seen: Vec<(u8, i64, u32)> = Vec::new();
            for (key, gap, n) in steps {
                at += gap / 10;
                seen.push((key, at, n));
                let got = v.add(key, at, n);
                let now = at.div_euclid(bucket_ms);
                let want: u32 = seen
                    .iter()
                    .filter(|(k, t, _)| *k == key && t.div_euclid(bucket_ms) > now - 6)
                    .map(|(_, _, n)| n)
                    .sum();
                prop_assert_eq!(got, want);
            }
        }
    }
}
