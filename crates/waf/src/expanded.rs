//! Operators whose argument has macros (`@within %{tx.restricted_headers_basic}`), compiled
//! once per expansion instead of once per request. The CRS's macros name settings that stay
//! the same from request to request, so the operator compiled for the last expansion is kept,
//! one per rule slot; an expansion that differs compiles again and replaces it. Memory is
//! bounded by the number of rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::operators::Operator;

type Compiled = (Box<[u8]>, Arc<Operator>);

/// The last compiled expansion of each rule slot with a macro in its operator.
#[derive(Debug, Default)]
pub struct ExpandedOperators {
    by_slot: Mutex<HashMap<u32, Compiled, foldhash::fast::RandomState>>,
}

impl ExpandedOperators {
    /// The operator `name` with the expanded argument `text`, for the rule in `slot`; none
    /// when it does not compile (the rule then does not match, as before).
    pub fn get(&self, slot: u32, name: &str, text: &[u8]) -> Option<Arc<Operator>> {
        {
            let map = self.by_slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((held, op)) = map.get(&slot) {
                if **held == *text {
                    return Some(op.clone());
                }
            }
        }
        // Compiled outside the lock: another thread may compile the same one meanwhile, and
        // whichever finishes last is kept; both are the same operator.
        let op = Operator::compile(name, &String::from_utf8_lossy(text), &|f| {
            Err(format!("no data file {f} at run time"))
        })
        .ok()?;
        let op = Arc::new(op);
        self.by_slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(slot, (text.into(), op.clone()));
        Some(op)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_expansion_is_compiled_once_and_a_new_one_replaces_it() {
        let cache = ExpandedOperators::default();
        let a = cache.get(3, "within", b"/proxy/ /lock-token/").unwrap();
        let again = cache.get(3, "within", b"/proxy/ /lock-token/").unwrap();
        assert!(Arc::ptr_eq(&a, &again), "the same expansion compiles once");
        assert!(a.matches(b"/proxy/", None));
        let b = cache.get(3, "within", b"/if/").unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(b.matches(b"/if/", None) && !b.matches(b"/proxy/", None));
        // Another slot with the same text has its own.
        let c = cache.get(4, "within", b"/if/").unwrap();
        assert!(!Arc::ptr_eq(&b, &c));
        assert!(cache.get(5, "rx", b"(unclosed").is_none());
    }
}
