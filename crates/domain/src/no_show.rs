//! No-shows: a valid ticket never checked in by the time its slot's entry closed. Repeated
//! no-shows lock the booking account and the visitor's ID number (by its blind index) for a
//! while: the rule, the locks, and their storage port.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::catalogue::SlotId;
use crate::order::{AccountId, TicketId};
use crate::personal::BlindIndex;
use crate::store::StoreError;

/// When no-shows lock: `threshold` of them within `window` lock for `lock_for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoShowRule {
    pub threshold: u32,
    pub window: SignedDuration,
    pub lock_for: SignedDuration,
}

impl Default for NoShowRule {
    /// The museum's rule: 3 no-shows in 90 days lock for 30 days.
    fn default() -> Self {
        Self {
            threshold: 3,
            window: SignedDuration::from_hours(90 * 24),
            lock_for: SignedDuration::from_hours(30 * 24),
        }
    }
}

impl NoShowRule {
    /// Whether `count` no-shows within the window lock. A threshold of 0 never locks.
    pub fn locks(&self, count: u32) -> bool {
        self.threshold > 0 && count >= self.threshold
    }

    /// What visitors and staff are told.
    pub fn reason(&self, count: u32) -> String {
        format!(
            "{count} no-shows within {} days (the limit is {})",
            self.window.as_hours() / 24,
            self.threshold
        )
    }
}

/// A ticket whose holder did not come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoShow {
    pub ticket: TicketId,
    pub account: AccountId,
    pub id_blind: BlindIndex,
    pub slot: SlotId,
    /// When the slot's entry closed.
    pub at: Timestamp,
}

/// What a no-show lock holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockSubject {
    /// The booking account.
    Account(AccountId),
    /// The visitor's ID number, whichever account books it.
    IdNumber(BlindIndex),
}

/// A lock placed by the no-show rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoShowLock {
    pub id: i64,
    pub subject: LockSubject,
    /// The account whose booking led to the lock (for an ID lock: the account of its latest
    /// no-show), so staff and the visitor can find it.
    pub account: AccountId,
    pub locked_at: Timestamp,
    pub until: Timestamp,
    pub reason: String,
    pub lifted: Option<Lifted>,
}

impl NoShowLock {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.lifted.is_none() && self.until > now
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifted {
    pub at: Timestamp,
    pub reason: String,
}

/// A lock to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLock {
    pub subject: LockSubject,
    pub account: AccountId,
    pub locked_at: Timestamp,
    pub until: Timestamp,
    pub reason: String,
}

#[async_trait]
pub trait NoShowStore: Send + Sync + 'static {
    /// Records as no-shows the valid tickets, never checked in, of slots whose entry closed
    /// in `[from, to)` (slot end plus the late margin), once each; returns the new ones.
    async fn record_no_shows(
        &self,
        from: Timestamp,
        to: Timestamp,
        late: SignedDuration,
    ) -> Result<Vec<NoShow>, StoreError>;
    /// No-shows of tickets booked by `account` since `since`.
    async fn no_shows_of_account(
        &self,
        account: AccountId,
        since: Timestamp,
    ) -> Result<u32, StoreError>;
    /// No-shows of tickets for this ID number since `since`, whichever account booked them.
    async fn no_shows_of_id(&self, id: &BlindIndex, since: Timestamp) -> Result<u32, StoreError>;
    /// Places a lock; an account lock also locks the account (`locked_until`).
    async fn add_no_show_lock(&self, lock: &NewLock) -> Result<NoShowLock, StoreError>;
    /// Locks not lifted whose end is after `now`.
    async fn active_no_show_locks(&self, now: Timestamp) -> Result<Vec<NoShowLock>, StoreError>;
    /// Lifts a lock; lifting an account lock unlocks the account. `NotFound`, or `Conflict` if
    /// it was already lifted.
    async fn lift_no_show_lock(&self, id: i64, lifted: &Lifted) -> Result<NoShowLock, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_no_shows_in_ninety_days_lock_for_thirty() {
        let rule = NoShowRule::default();
        assert!(!rule.locks(2));
        assert!(rule.locks(3));
        assert!(rule.locks(7));
        assert_eq!(rule.lock_for, SignedDuration::from_hours(720));
        assert_eq!(rule.reason(3), "3 no-shows within 90 days (the limit is 3)");
        let never = NoShowRule {
            threshold: 0,
            ..rule
        };
        assert!(!never.locks(100));
    }
}
