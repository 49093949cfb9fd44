//! No-shows, server side. After a slot's entry closes (its end plus the late margin) every
//! valid ticket never checked in is recorded as a no-show; then the rule is applied: an
//! account with too many no-shows in the window is locked, and an ID number with too many is
//! locked together with the account that booked it. Staff lift a lock with a reason.
//!
//! The sweep looks back one day only, so a deployment on a database full of old tickets never
//! counts history from before check-ins existed; the housekeeping loop runs it every minute.

use std::collections::{BTreeMap, BTreeSet};

use gatehouse_domain::no_show::{Lifted, LockSubject, NewLock, NoShowLock};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::BlindIndex;
use jiff::SignedDuration;

use crate::{GateError, GateService};

/// How far back a sweep looks for slots whose entry closed.
const LOOKBACK: SignedDuration = SignedDuration::from_hours(24);
const MAX_REASON: usize = 500;

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    pub recorded: usize,
    /// The account that booked each ticket newly recorded as a no-show (risk control counts
    /// them in its history).
    pub no_shows_of: Vec<AccountId>,
    /// Locks placed by this sweep.
    pub locks: Vec<NoShowLock>,
}

impl GateService {
    /// Records the no-shows of slots whose entry closed in the last day and applies the rule.
    pub async fn sweep_no_shows(&self) -> Result<SweepOutcome, GateError> {
        let now = self.clock.now();
        let from = now.checked_sub(LOOKBACK).unwrap_or(now);
        let new = self
            .no_shows
            .record_no_shows(from, now, self.config.late_entry)
            .await?;
        let mut outcome = SweepOutcome {
            recorded: new.len(),
            no_shows_of: new.iter().map(|n| n.account).collect(),
            locks: Vec::new(),
        };
        if new.is_empty() {
            return Ok(outcome);
        }
        let rule = self.config.no_show;
        let since = now.checked_sub(rule.window).unwrap_or(now);
        let until = now.checked_add(rule.lock_for).unwrap_or(now);
        let mut locked_accounts = BTreeSet::new();
        let mut locked_ids = BTreeSet::new();
        for lock in self.no_shows.active_no_show_locks(now).await? {
            match lock.subject {
                LockSubject::Account(a) => locked_accounts.insert(a),
                LockSubject::IdNumber(b) => locked_ids.insert(b),
            };
        }
        let accounts: BTreeSet<AccountId> = new.iter().map(|n| n.account).collect();
        // Each ID's latest no-show names the account that booked it.
        let ids: BTreeMap<BlindIndex, AccountId> =
            new.iter().map(|n| (n.id_blind, n.account)).collect();
        let place = |subject: LockSubject, account: AccountId, count: u32| NewLock {
            subject,
            account,
            locked_at: now,
            until,
            reason: rule.reason(count),
        };
        let mut wanted = Vec::new();
        for (id, account) in ids {
            if locked_ids.contains(&id) {
                continue;
            }
            let count = self.no_shows.no_shows_of_id(&id, since).await?;
            if rule.locks(count) {
                wanted.push(place(LockSubject::IdNumber(id), account, count));
                if locked_accounts.insert(account) {
                    wanted.push(place(LockSubject::Account(account), account, count));
                }
            }
        }
        for account in accounts {
            if locked_accounts.contains(&account) {
                continue;
            }
            let count = self.no_shows.no_shows_of_account(account, since).await?;
            if rule.locks(count) {
                locked_accounts.insert(account);
                wanted.push(place(LockSubject::Account(account), account, count));
            }
        }
        for lock in wanted {
            outcome
                .locks
                .push(self.no_shows.add_no_show_lock(&lock).await?);
        }
        if !outcome.locks.is_empty() {
            tracing::info!(
                no_shows = outcome.recorded,
                locks = outcome.locks.len(),
                "no-show rule placed locks"
            );
        }
        Ok(outcome)
    }

    /// Locks in force now.
    pub async fn active_no_show_locks(&self) -> Result<Vec<NoShowLock>, GateError> {
        Ok(self.no_shows.active_no_show_locks(self.clock.now()).await?)
    }

    /// Locks in force now that an account's booking led to.
    pub async fn no_show_locks_of(&self, account: AccountId) -> Result<Vec<NoShowLock>, GateError> {
        let mut locks = self.active_no_show_locks().await?;
        locks.retain(|l| l.account == account);
        Ok(locks)
    }

    /// Lifts a lock, with the reason staff give (the caller audits it).
    pub async fn lift_no_show_lock(&self, id: i64, reason: &str) -> Result<NoShowLock, GateError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(GateError::invalid("reason", "must be 1–500 characters"));
        }
        let lifted = Lifted {
            at: self.clock.now(),
            reason: reason.to_owned(),
        };
        Ok(self.no_shows.lift_no_show_lock(id, &lifted).await?)
    }
}
