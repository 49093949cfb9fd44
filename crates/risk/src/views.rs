//! Page views: when each account last looked at a bookable page (a slot's availability, the
//! booking form), so a booking can say how long after its page it was submitted, or that it
//! came with no page seen at all — a script posting straight to the booking endpoint. Bounded
//! like every other table: the accounts idle longest make room.

use crate::bounded::Bounded;
use crate::Millis;

/// Longer ago than this, a view does not count for a booking now.
pub const VIEW_COUNTS_FOR: Millis = 30 * 60 * 1_000;

#[derive(Debug)]
pub struct PageViews {
    last: Bounded<u64, Millis>,
}

impl PageViews {
    pub fn new(capacity: usize) -> Self {
        Self {
            last: Bounded::new(capacity),
        }
    }

    /// `account` looked at a bookable page at `at`.
    pub fn seen(&mut self, account: u64, at: Millis) {
        let last = self.last.touch(account, at, || at);
        *last = (*last).max(at);
    }

    /// Milliseconds since `account`'s last view within [`VIEW_COUNTS_FOR`], or None.
    pub fn since_last(&self, account: u64, now: Millis) -> Option<u64> {
        let at = *self.last.get(&account)?;
        let since = now.saturating_sub(at);
        (0..=VIEW_COUNTS_FOR)
            .contains(&since)
            .then(|| u64::try_from(since).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_counts_for_half_an_hour_and_the_table_stays_bounded() {
        let mut v = PageViews::new(100);
        assert_eq!(v.since_last(1, 0), None, "never seen");
        v.seen(1, 1_000);
        v.seen(1, 500);
        assert_eq!(
            v.since_last(1, 4_000),
            Some(3_000),
            "the latest view counts"
        );
        assert_eq!(
            v.since_last(1, 1_000 + VIEW_COUNTS_FOR),
            Some(VIEW_COUNTS_FOR as u64)
        );
        assert_eq!(
            v.since_last(1, 1_001 + VIEW_COUNTS_FOR),
            None,
            "too long ago"
        );
        for account in 0..10_000 {
            v.seen(account, 2_000 + i64::try_from(account).unwrap_or(0));
        }
        assert!(v.last.len() <= 100);
        assert_eq!(v.since_last(9_999, 20_000), Some(8_001), "the newest stay");
    }
}
