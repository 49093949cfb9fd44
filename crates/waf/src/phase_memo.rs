//! What a transaction remembers within one phase — the request values' known non-matches and
//! the shared target lists' values — and the buffers behind it, kept per thread from one
//! transaction to the next: at 09:00 every request is examined, and allocating and growing
//! the same few tables for each of them again costs more than the lookups they serve.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::clean::Passed;
use crate::operators::Captures;
use crate::vars::Place;

/// One match of a rule: the variable, its (transformed) value, and what the operator captured.
pub(crate) type Match = (String, Vec<u8>, Option<Captures>);

/// This phase's request values and their remembered non-matches: a small direct-mapped table
/// by the value's address (a clash only evicts: the rule set's table still answers), holding
/// indexes into the bits, so a lookup is two comparisons and no reference count.
#[derive(Default)]
pub(crate) struct PassedMemo {
    /// (address, length, index into `bits` + 1; 0 for empty); `MEMO_PLACES` long once used.
    places: Vec<(usize, usize, u32)>,
    pub(crate) bits: Vec<Passed>,
}

const MEMO_PLACES: usize = 128;
/// The most bits a phase holds (a request with more distinct values goes unremembered).
pub(crate) const MEMO_MAX: usize = 4_096;

impl PassedMemo {
    pub(crate) fn clear(&mut self) {
        self.places.fill((0, 0, 0));
        self.bits.clear();
    }

    /// The index of the bits remembered for the value at `address` of `len` bytes.
    pub(crate) fn find(&self, address: usize, len: usize) -> Option<u32> {
        match self.places.get(Self::place(address, len)) {
            Some(&(a, l, i)) if a == address && l == len && i > 0 => Some(i - 1),
            _ => None,
        }
    }

    /// Remembers `bits` for the value at `address`; its index, or none when the memo is full.
    pub(crate) fn remember(&mut self, address: usize, len: usize, bits: Passed) -> Option<u32> {
        if self.bits.len() >= MEMO_MAX {
            return None;
        }
        if self.places.is_empty() {
            self.places.resize(MEMO_PLACES, (0, 0, 0));
        }
        self.bits.push(bits);
        let index = u32::try_from(self.bits.len()).ok()?;
        if let Some(p) = self.places.get_mut(Self::place(address, len)) {
            *p = (address, len, index);
        }
        Some(index - 1)
    }

    fn place(address: usize, len: usize) -> usize {
        (address >> 3 ^ len) % MEMO_PLACES
    }
}

/// The shared target lists' values this phase, in one buffer: where each value sits, and its
/// remembered non-matches (an index into the phase's memo; `NOT_REMEMBERED` for none).
#[derive(Default)]
pub(crate) struct SharedLists {
    /// By list number: where its values are in `values`.
    pub(crate) found: Vec<Option<std::ops::Range<usize>>>,
    pub(crate) values: Vec<(Place, u32)>,
    /// By list number: one word of the rules every one of its values is known not to match
    /// (the word's number, and its bits), so a rule none of them can match is passed over
    /// without visiting them. Rules run in slot order, so one word serves 64 rules in a row.
    pub(crate) clean_word: Vec<(usize, u64)>,
    /// Scratch for finding a list.
    pub(crate) places: Vec<Place>,
}

impl SharedLists {
    pub(crate) fn clear(&mut self) {
        self.found.clear();
        self.values.clear();
        self.clean_word.clear();
    }
}

/// No word of clean rules found yet.
pub(crate) const NO_WORD: (usize, u64) = (usize::MAX, 0);

pub(crate) const NOT_REMEMBERED: u32 = u32::MAX;

/// The TX table (names in lower case).
pub(crate) type TxTable = HashMap<Arc<str>, Vec<u8>, foldhash::fast::RandomState>;

/// A transaction's reusable buffers, empty whenever they are handed out.
#[derive(Default)]
pub(crate) struct Buffers {
    pub(crate) passed: PassedMemo,
    pub(crate) lists: SharedLists,
    /// Buffers of earlier matches (name, value), reused for the next ones.
    pub(crate) spare: Vec<(String, Vec<u8>)>,
    pub(crate) matches: Vec<Match>,
    pub(crate) tx: TxTable,
}

/// A buffer kept for the next transaction holds at most this many bytes (or entries): one
/// odd request must not pin its size on the thread.
const KEEP_AT_MOST: usize = 4_096;
/// Match buffers kept for the next transaction.
const SPARE_KEPT: usize = 16;

thread_local! {
    static KEPT: RefCell<Buffers> = RefCell::default();
}

impl Buffers {
    /// The buffers the last transaction on this thread left (empty ones the first time).
    pub(crate) fn take() -> Self {
        KEPT.with_borrow_mut(std::mem::take)
    }

    /// Empties the buffers and keeps them, within bounds, for this thread's next transaction.
    pub(crate) fn keep(mut self) {
        self.passed.clear();
        self.lists.clear();
        self.lists.places.clear();
        self.matches.clear();
        self.tx.clear();
        self.spare
            .retain(|(n, v)| n.capacity() <= KEEP_AT_MOST && v.capacity() <= KEEP_AT_MOST);
        self.spare.truncate(SPARE_KEPT);
        // What matched may be personal data: the buffers are kept, not their contents.
        for (name, value) in &mut self.spare {
            name.clear();
            value.clear();
        }
        if self.lists.values.capacity() > KEEP_AT_MOST {
            self.lists.values = Vec::new();
        }
        if self.lists.places.capacity() > KEEP_AT_MOST {
            self.lists.places = Vec::new();
        }
        if self.matches.capacity() > KEEP_AT_MOST {
            self.matches = Vec::new();
        }
        if self.tx.capacity() > KEEP_AT_MOST {
            self.tx = TxTable::default();
        }
        // Whatever the thread holds (another transaction's, returned first) gives way.
        let _ = KEPT.try_with(|kept| kept.replace(self));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_memo_finds_what_it_remembered_and_nothing_after_clearing() {
        let mut memo = PassedMemo::default();
        assert_eq!(memo.find(4096, 3), None, "an unused memo is empty");
        let bits: Passed = Arc::from(vec![std::sync::atomic::AtomicU64::new(1)]);
        assert_eq!(memo.remember(4096, 3, bits.clone()), Some(0));
        assert_eq!(memo.remember(8192, 5, bits), Some(1));
        assert_eq!(memo.find(4096, 3), Some(0));
        assert_eq!(memo.find(8192, 5), Some(1));
        assert_eq!(
            memo.find(4096, 4),
            None,
            "the same address with another length"
        );
        memo.clear();
        assert_eq!(memo.find(4096, 3), None);
        assert!(memo.bits.is_empty());
    }

    #[test]
    fn kept_buffers_come_back_empty_and_within_bounds() {
        let mut buffers = Buffers::take();
        buffers.tx.insert(Arc::from("score"), b"5".to_vec());
        buffers.matches.push(("ARGS:a".into(), b"x".to_vec(), None));
        buffers
            .spare
            .push(("big".into(), vec![0; KEEP_AT_MOST + 1]));
        buffers
            .spare
            .push(("ARGS:phone".into(), b"13812345678".to_vec()));
        buffers.lists.found.push(Some(0..1));
        buffers
            .passed
            .remember(64, 1, Arc::from(vec![std::sync::atomic::AtomicU64::new(0)]));
        let tx_room = buffers.tx.capacity();
        buffers.keep();

        let again = Buffers::take();
        assert!(again.tx.is_empty() && again.tx.capacity() >= tx_room);
        assert!(again.matches.is_empty() && again.lists.found.is_empty());
        assert_eq!(again.passed.find(64, 1), None);
        assert_eq!(again.spare.len(), 1, "the oversized buffer is not kept");
        let (name, value) = again.spare.first().unwrap();
        assert!(name.is_empty() && value.is_empty() && value.capacity() >= 8);
        assert!(
            Buffers::take().tx.capacity() == 0,
            "taken buffers are the taker's alone"
        );
    }
}
