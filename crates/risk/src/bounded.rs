//! A table that holds at most a set number of keys. When it is full, the eighth of its entries
//! idle longest make room (amortised: one scan per `capacity / 8` new keys), so a flood of new
//! keys costs time, never memory. Keys that can be minted freely (devices, IPs) belong in
//! tables of their own, apart from keys that cannot (ID numbers, phones), so that flooding
//! the first never pushes out the history of the second.

use std::collections::HashMap;
use std::hash::Hash;

use crate::Millis;

#[derive(Debug)]
pub(crate) struct Bounded<K, V> {
    map: HashMap<K, (V, Millis)>,
    capacity: usize,
}

impl<K: Hash + Eq, V> Bounded<K, V> {
    /// A table of at most `capacity` keys (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(v, _)| v)
    }

    /// The key's value (made by `make` if new), touched at `now`.
    pub(crate) fn touch(&mut self, key: K, now: Millis, make: impl FnOnce() -> V) -> &mut V {
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            self.evict();
        }
        let (value, touched) = self.map.entry(key).or_insert_with(|| (make(), now));
        *touched = (*touched).max(now);
        value
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops the eighth of the entries (at least one) touched longest ago.
    fn evict(&mut self) {
        let n = (self.capacity / 8).max(1);
        let mut touched: Vec<Millis> = self.map.values().map(|(_, t)| *t).collect();
        if touched.len() < n {
            return;
        }
        let cut = *touched.select_nth_unstable(n - 1).1;
        let mut left = n;
        self.map.retain(|_, (_, t)| {
            let goes = left > 0 && *t <= cut;
            if goes {
                left -= 1;
            }
            !goes
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_lets_the_longest_idle_go_and_never_grows() {
        let mut t: Bounded<u32, u32> = Bounded::new(16);
        for k in 0..16 {
            *t.touch(k, i64::from(k), || 0) += 1;
        }
        // Key 0 is busy again: it is no longer the idlest.
        *t.touch(0, 100, || 0) += 1;
        for k in 100..1_000 {
            t.touch(k, 200 + i64::from(k), || 0);
            assert!(t.len() <= 16);
        }
        assert_eq!(t.len(), 16);
        assert!(t.get(&1).is_none(), "the idle keys went first");
        let mut t: Bounded<u32, u32> = Bounded::new(16);
        for k in 0..16 {
            t.touch(k, i64::from(k), || k);
        }
        *t.touch(0, 100, || 0) += 1;
        t.touch(99, 101, || 0);
        assert_eq!(t.get(&0), Some(&1), "a recently touched key stays");
        assert!(t.get(&1).is_none() && t.get(&2).is_none(), "an eighth went");
        assert!(t.get(&3).is_some());
    }
}
