//! How each sale's challenges went on this node since it started: how many requests were asked
//! for a pass, how many passes were earned, and how many answers were refused as not solving
//! the challenge. The waiting room's fairness report shows the sales that guard joining.
//! Only sales of the policy's rules and of challenges this node signed are counted, so a
//! client cannot grow the table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use gatehouse_shield::Path;

use crate::Edge;

/// One sale's challenges on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaleTally {
    /// Requests answered with a challenge instead of passing.
    pub challenged: u64,
    /// Passes earned (by work or by an SMS code).
    pub passed: u64,
    /// Answers to a challenge of this sale that did not solve it.
    pub failed: u64,
}

impl std::ops::AddAssign for SaleTally {
    fn add_assign(&mut self, other: Self) {
        self.challenged += other.challenged;
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

#[derive(Default)]
pub(crate) struct Sales(Mutex<HashMap<Arc<str>, SaleTally>>);

impl Sales {
    pub(crate) fn note(&self, sale: &str, count: impl FnOnce(&mut SaleTally)) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match all.get_mut(sale) {
            Some(t) => count(t),
            None => count(all.entry(Arc::from(sale)).or_default()),
        }
    }

    fn of(&self, sale: &str) -> SaleTally {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sale)
            .copied()
            .unwrap_or_default()
    }
}

impl Edge {
    /// How `sale`'s challenges went on this node.
    pub fn sale_tally(&self, sale: &str) -> SaleTally {
        self.sales.of(sale)
    }

    /// The sales whose challenge rules cover `method path` (whatever their `when`), each once.
    pub fn sales_covering(&self, method: &str, path: &str) -> Vec<Arc<str>> {
        let policy = self.shield().policy();
        let split = Path::split(path);
        let mut names: Vec<Arc<str>> = policy
            .challenge_rules
            .iter()
            .filter(|r| r.covers(method, &split))
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
