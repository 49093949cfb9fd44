//! Keyed rate limits by the generic cell rate algorithm (GCRA), in bounded memory.
//!
//! Each key keeps one number, its theoretical arrival time (TAT). A request at `now` is allowed
//! if `now >= TAT - tolerance`, and then moves the TAT one emission interval on. A key may spend
//! its burst at once and then one request per interval; a limit tripped by an attacker releases
//! gradually.
//!
//! Memory is bounded by construction: keys are 64-bit hashes under a per-process random seed
//! (an attacker cannot aim collisions), spread over shards with a lock each, and each shard
//! keeps two generations of at most `capacity / shards / 2` keys. When the current generation
//! fills, it becomes the previous one and the old previous one is dropped; a key found in the
//! previous generation moves back to the current one. Rotating keys therefore cannot grow the
//! table, only push out keys that have not been seen for a generation — which is why the
//! policy should limit on keys that cannot be minted freely (a /24 or /64 before one address).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

/// `burst` requests, then one every `interval_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    interval_us: u64,
    tolerance_us: u64,
}

impl Gcra {
    /// `burst` requests per `per_secs` (both at least 1, checked by the policy).
    pub fn new(burst: u32, per_secs: u32) -> Self {
        let burst = u64::from(burst.max(1));
        let interval_us = (u64::from(per_secs.max(1)) * 1_000_000 / burst).max(1);
        Self {
            interval_us,
            tolerance_us: interval_us * (burst - 1),
        }
    }

    /// The time between two requests at the sustained rate, in microseconds.
    pub fn interval_us(self) -> u64 {
        self.interval_us
    }

    /// How far ahead of now a key's TAT may run (the burst beyond one), in microseconds.
    pub fn tolerance_us(self) -> u64 {
        self.tolerance_us
    }

    /// Decides one request against a key's TAT (None: a key never seen, or forgotten); returns
    /// the new TAT if allowed, or how long until it would be.
    fn decide(self, tat: Option<u64>, now_us: u64) -> Result<u64, u64> {
        let tat = tat.unwrap_or(now_us).max(now_us);
        let allow_at = tat.saturating_sub(self.tolerance_us);
        if now_us < allow_at {
            return Err(allow_at - now_us);
        }
        Ok(tat + self.interval_us)
    }
}

const SHARDS: usize = 64;

/// A key with no identity hashing: the keys are already well-mixed 64-bit hashes.
#[derive(Default, Clone, Copy)]
struct PreHashed;

#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for PreHashed {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher::default()
    }
}

type Generation = HashMap<u64, u64, PreHashed>;

#[derive(Default)]
struct Shard {
    current: Generation,
    previous: Generation,
}

/// Every keyed limit's state, in one bounded table.
pub struct KeyedLimits {
    seed: foldhash::fast::RandomState,
    shards: Vec<Mutex<Shard>>,
    /// Keys per generation per shard.
    generation_cap: usize,
}

/// A request over its limit: when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    pub retry_after_us: u64,
}

impl KeyedLimits {
    /// A table holding at most `max_keys` keys (rounded down to a whole number per shard,
    /// at least 2 per shard).
    pub fn new(max_keys: usize) -> Self {
        let generation_cap = (max_keys / SHARDS / 2).max(1);
        Self {
            seed: foldhash::fast::RandomState::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            generation_cap,
        }
    }

    /// The most keys the table can hold.
    pub fn max_keys(&self) -> usize {
        self.generation_cap * 2 * SHARDS
    }

    /// The hash of `(limit, key)`: what the table stores.
    pub fn key(&self, limit: u64, key: &[u8]) -> u64 {
        let mut h = self.seed.build_hasher();
        h.write_u64(limit);
        h.write(key);
        h.finish()
    }

    /// Checks and, if allowed, counts one request of `key` (from [`Self::key`]) at `now_us`.
    pub fn check(&self, key: u64, limit: Gcra, now_us: u64) -> Result<(), OverLimit> {
        let cap = self.generation_cap;
        self.with_shard(key, |shard| shard.check(key, limit, now_us, cap))
            .unwrap_or(Ok(()))
    }

    /// Whether one more request of `key` would be allowed at `now_us`, without counting it.
    pub fn peek(&self, key: u64, limit: Gcra, now_us: u64) -> Result<(), OverLimit> {
        let tat = self
            .with_shard(key, |shard| {
                shard
                    .current
                    .get(&key)
                    .or_else(|| shard.previous.get(&key))
                    .copied()
            })
            .flatten();
        limit
            .decide(tat, now_us)
            .map(|_| ())
            .map_err(|wait| OverLimit {
                retry_after_us: wait,
            })
    }

    /// Replaces the word kept for `key` by `f` of the old one (None: never seen, or dropped with
    /// its generation) and returns the new word. The same bound holds as for limits, so other
    /// per-client state (the bot signals' traces) lives in a table of this kind too.
    pub fn update(&self, key: u64, f: impl FnOnce(Option<u64>) -> u64) -> u64 {
        let cap = self.generation_cap;
        let word = |shard: &mut Shard| {
            let old = match shard.current.get(&key) {
                Some(w) => Some(*w),
                None => shard.previous.remove(&key),
            };
            let new = f(old);
            shard.insert(key, new, cap);
            new
        };
        self.with_shard(key, word).unwrap_or(0)
    }

    /// Forgets a key: its whole burst is back.
    pub fn forget(&self, key: u64) {
        self.with_shard(key, |shard| {
            shard.current.remove(&key);
            shard.previous.remove(&key);
        });
    }

    fn with_shard<T>(&self, key: u64, f: impl FnOnce(&mut Shard) -> T) -> Option<T> {
        let shard = self.shards.get((key >> 58) as usize % SHARDS)?;
        // A poisoned lock only means another thread panicked mid-update of plain integers.
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut shard))
    }

    /// Keys held now (both generations).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.current.len() + s.previous.len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots allocated (both generations): what the memory bound is about.
    pub fn allocated(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.current.capacity() + s.previous.capacity()
            })
            .sum()
    }
}

impl Shard {
    fn check(&mut self, key: u64, limit: Gcra, now_us: u64, cap: usize) -> Result<(), OverLimit> {
        let tat = match self.current.get(&key) {
            Some(t) => Some(*t),
            None => self.previous.remove(&key),
        };
        match limit.decide(tat, now_us) {
            Ok(new_tat) => {
                self.insert(key, new_tat, cap);
                Ok(())
            }
            Err(wait) => {
                if let Some(t) = tat {
                    // Keep a limited key in the current generation: it is the one that matters.
                    self.insert(key, t, cap);
                }
                Err(OverLimit {
                    retry_after_us: wait,
                })
            }
        }
    }

    fn insert(&mut self, key: u64, tat: u64, cap: usize) {
        if self.current.len() >= cap && !self.current.contains_key(&key) {
            // The current generation is full: it becomes the previous one, whose keys go.
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        self.current.insert(key, tat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: u64 = 1_000_000;

    #[test]
    fn a_key_spends_its_burst_then_one_per_interval() {
        let t = KeyedLimits::new(1_000);
        let limit = Gcra::new(3, 3); // 3 at once, then one a second
        let k = t.key(1, b"1.2.3.4");
        let now = 100 * SEC;
        for _ in 0..3 {
            assert!(t.check(k, limit, now).is_ok());
        }
        let over = t.check(k, limit, now).unwrap_err();
        assert_eq!(over.retry_after_us, SEC);
        assert!(t.check(k, limit, now + SEC - 1).is_err());
        assert!(t.check(k, limit, now + SEC).is_ok());
        assert!(t.check(k, limit, now + SEC).is_err());
        // Another key, or the same key under another rule, is not affected.
        assert!(t.check(t.key(1, b"1.2.3.5"), limit, now).is_ok());
        assert!(t.check(t.key(2, b"1.2.3.4"), limit, now).is_ok());
        // Idle long enough, the whole burst is back.
        for _ in 0..3 {
            assert!(t.check(k, limit, now + 100 * SEC).is_ok());
        }
    }

    #[test]
    fn a_peek_does_not_count_and_a_forgotten_key_has_its_burst_back() {
        let t = KeyedLimits::new(1_000);
        let limit = Gcra::new(1, 60);
        let k = t.key(0, b"13800000001");
        assert!(t.peek(k, limit, SEC).is_ok());
        assert!(t.peek(k, limit, SEC).is_ok());
        assert!(t.check(k, limit, SEC).is_ok());
        assert_eq!(t.peek(k, limit, SEC).unwrap_err().retry_after_us, 60 * SEC);
        t.forget(k);
        assert!(t.check(k, limit, SEC).is_ok());
    }

    #[test]
    fn rotating_a_million_keys_stays_within_the_bound() {
        let t = KeyedLimits::new(10_000);
        let limit = Gcra::new(5, 60);
        for i in 0u32..1_000_000 {
            let _ = t.check(t.key(1, &i.to_be_bytes()), limit, u64::from(i));
        }
        assert!(t.len() <= t.max_keys(), "{} > {}", t.len(), t.max_keys());
        assert!(t.max_keys() <= 10_000);
        // A hash map allocates at most about twice what it holds; the two generations together
        // never hold more than the bound.
        assert!(
            t.allocated() <= 2 * t.max_keys() + 2 * SHARDS * 16,
            "{} slots for a bound of {}",
            t.allocated(),
            t.max_keys()
        );
    }

    #[test]
    fn a_key_in_use_survives_a_flood_of_new_keys_if_it_keeps_coming() {
        let t = KeyedLimits::new(6_400); // 50 keys per generation per shard
        let limit = Gcra::new(2, 3600);
        let target = t.key(1, b"the bot");
        assert!(t.check(target, limit, 0).is_ok());
        assert!(t.check(target, limit, 0).is_ok());
        for i in 0u32..100_000 {
            let _ = t.check(t.key(1, &i.to_be_bytes()), limit, 1);
            if i % 20 == 0 {
                assert!(
                    t.check(target, limit, 1).is_err(),
                    "forgotten after {i} keys"
                );
            }
        }
    }

    proptest! {
        /// Over any sequence of requests, a key is never allowed more than burst + elapsed /
        /// interval requests (the GCRA bound), and the table never exceeds its bound.
        #[test]
        fn a_limit_is_never_exceeded(
            steps in proptest::collection::vec((0u8..4, 0u64..400_000), 1..400),
            burst in 1u32..10,
            per_secs in 1u32..5,
        ) {
            let t = KeyedLimits::new(10_000);
            let limit = Gcra::new(burst, per_secs);
            let interval = u64::from(per_secs) * SEC / u64::from(burst);
            let mut now = 0u64;
            let mut allowed = [0u64; 4];
            let mut first: [Option<u64>; 4] = [None; 4];
            for (key, gap) in steps {
                now += gap;
                let k = usize::from(key);
                if t.check(t.key(0, &[key]), limit, now).is_ok() {
                    allowed[k] += 1;
                    let start = *first[k].get_or_insert(now);
                    prop_assert!(allowed[k] <= u64::from(burst) + (now - start) / interval);
                }
            }
            prop_assert!(t.len() <= t.max_keys());
        }
    }
}
