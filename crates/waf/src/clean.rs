//! Remembered non-matches: which rules a value is known not to match. Every operator and
//! transformation is a pure function of the value's bytes, so a rule that did not match a value
//! once never will; real traffic repeats most of its values from request to request (argument
//! names, header values, cookie names, ids), so a repeated value skips the rules it has already
//! passed — its transformations and its operator alike. Only "did not match" is remembered: a
//! match is evaluated every time, with its captures and side effects.
//!
//! The table is bounded (values up to `MAX_VALUE` bytes, `MAX_PER_SHARD` values a shard; a full
//! shard is emptied and refills), so a flood of distinct values costs a lookup, never memory.

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The longest value remembered.
const MAX_VALUE: usize = 256;
const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 2_048;

/// One bit per rule (by its slot): set when the rule is known not to match the value.
pub type Passed = Arc<[AtomicU64]>;

type Shard = HashMap<Box<[u8]>, Passed, foldhash::fast::RandomState>;

/// The remembered non-matches of one rule set.
#[derive(Debug)]
pub struct CleanValues {
    words: usize,
    shards: Vec<Mutex<Shard>>,
    /// For each class of plain values (`proof::CLASSES`), the rules proven unable to match
    /// any of its values: a new value of the class starts with their bits set.
    proven: Vec<Vec<u64>>,
}

impl CleanValues {
    /// A table for `rules` rule slots, without proofs.
    pub fn new(rules: usize) -> Self {
        Self::with_proofs(rules, std::iter::empty())
    }

    /// A table for `rules` rule slots, and the classes each slot's rule is proven never to
    /// match (one bit per class).
    pub fn with_proofs(rules: usize, proofs: impl Iterator<Item = (u32, u8)>) -> Self {
        let words = rules.div_ceil(64).max(1);
        let mut proven = vec![vec![0u64; words]; crate::proof::CLASSES.len()];
        for (slot, classes) in proofs {
            for (class, bits) in proven.iter_mut().enumerate() {
                if classes & (1 << class) != 0 {
                    if let Some(w) = bits.get_mut(slot as usize / 64) {
                        *w |= 1 << (slot % 64);
                    }
                }
            }
        }
        Self {
            words,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            proven,
        }
    }

    /// The value's bits, added if new; none for a value too long to remember.
    pub fn passed(&self, value: &[u8]) -> Option<Passed> {
        if value.len() > MAX_VALUE {
            return None;
        }
        let hash = foldhash::quality::FixedState::with_seed(7).hash_one(value);
        let shard = self
            .shards
            .get(usize::try_from(hash).unwrap_or(0) % SHARDS)?;
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(bits) = map.get(value) {
            return Some(bits.clone());
        }
        if map.len() >= MAX_PER_SHARD {
            map.clear();
        }
        let classes = crate::proof::classes_of(value);
        let proven = |word: usize| -> u64 {
            self.proven
                .iter()
                .enumerate()
                .filter(|(class, _)| classes & (1 << class) != 0)
                .fold(0, |acc, (_, bits)| {
                    acc | bits.get(word).copied().unwrap_or(0)
                })
        };
        let bits: Passed = (0..self.words).map(|w| AtomicU64::new(proven(w))).collect();
        map.insert(value.into(), bits.clone());
        Some(bits)
    }
}

/// Whether the rule in `slot` is known not to match.
pub fn known_clean(bits: &[AtomicU64], slot: u32) -> bool {
    let slot = slot as usize;
    bits.get(slot / 64)
        .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (slot % 64)) != 0)
}

/// Records that the rule in `slot` does not match.
pub fn mark_clean(bits: &[AtomicU64], slot: u32) {
    let slot = slot as usize;
    if let Some(w) = bits.get(slot / 64) {
        w.fetch_or(1 << (slot % 64), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bits_are_per_value_and_per_rule_and_the_table_is_bounded() {
        let t = CleanValues::new(700);
        let a = t.passed(b"json.slot_id").unwrap();
        assert!(!known_clean(&a, 650));
        mark_clean(&a, 650);
        assert!(known_clean(&t.passed(b"json.slot_id").unwrap(), 650));
        assert!(!known_clean(&t.passed(b"json.slot_id").unwrap(), 649));
        assert!(!known_clean(&t.passed(b"json.slot_idx").unwrap(), 650));
        assert!(t.passed(&[b'a'; MAX_VALUE + 1]).is_none());
        for i in 0..100_000u32 {
            t.passed(&i.to_le_bytes());
        }
        let held: usize = t.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * MAX_PER_SHARD, "{held}");
    }
}
