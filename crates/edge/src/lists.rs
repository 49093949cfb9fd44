//! The block and allow lists as staff manage them: entries are checked, stored through the
//! domain's `TrafficStore`, and compiled into the shield's lookup tables — at once on the node
//! that changed them, and by every node on its next refresh (`LIST_REFRESH`). An entry's end is
//! turned from wall-clock time into the shield's monotonic clock when the lists are compiled.

use std::time::Duration;

use gatehouse_domain::order::AccountId;
use gatehouse_domain::store::StoreError;
use gatehouse_domain::traffic::{ListEntry, ListEntryInvalid, ListSubject, NewListEntry};
use gatehouse_shield::{ListKey, ListRule, Listed, Lists};
use jiff::Timestamp;

use crate::Edge;

/// How often each node reads the lists again (other nodes' changes, entries that ended).
pub const LIST_REFRESH: Duration = Duration::from_secs(5);

/// Why a list change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Invalid(#[from] ListEntryInvalid),
    #[error("there is no list entry {0}")]
    NotFound(i64),
    #[error("this server keeps no lists (it runs without a database)")]
    NoStore,
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

fn rule(entry: &ListEntry, wall_now: Timestamp, now_us: u64) -> ListRule {
    let e = &entry.entry;
    let key = match &e.subject {
        ListSubject::Network { addr, prefix } => ListKey::Network {
            addr: *addr,
            prefix: *prefix,
        },
        ListSubject::Account(id) => ListKey::Account(id.0.to_string()),
        ListSubject::Device(d) => ListKey::Device(d.clone()),
    };
    let ends_us = e.expires_at.map(|end| {
        let left = end.duration_since(wall_now).as_micros().max(0);
        now_us.saturating_add(u64::try_from(left).unwrap_or(u64::MAX))
    });
    ListRule {
        id: entry.id,
        allow: e.action == gatehouse_domain::traffic::ListAction::Allow,
        key,
        reason: e.reason.as_str().into(),
        ends_us,
    }
}

impl Edge {
    /// Reads the lists from the store and puts them in force. Without a store there are none.
    pub async fn refresh_lists(&self) -> Result<usize, ListError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let wall = self.clock.now();
        let entries = store.list_entries(wall).await?;
        let now_us = self.now_us();
        let n = entries.len();
        self.shield.set_lists(Lists::new(
            entries.iter().map(|e| rule(e, wall, now_us)).collect(),
        ));
        Ok(n)
    }

    /// The entries in force, oldest first.
    pub async fn list_entries(&self) -> Result<Vec<ListEntry>, ListError> {
        let store = self.store.as_ref().ok_or(ListError::NoStore)?;
        Ok(store.list_entries(self.clock.now()).await?)
    }

    /// Adds an entry (checked first) and puts it in force on this node at once.
    pub async fn add_list_entry(&self, entry: NewListEntry) -> Result<ListEntry, ListError> {
        let store = self.store.as_ref().ok_or(ListError::NoStore)?;
        entry.check()?;
        let added = store.add_list_entry(&entry).await?;
        tracing::info!(
            id = added.id,
            action = entry.action.as_str(),
            kind = entry.subject.kind(),
            "traffic list entry added"
        );
        self.refresh_lists().await?;
        Ok(added)
    }

    /// Removes an entry and takes it out of force on this node at once.
    pub async fn remove_list_entry(&self, id: i64) -> Result<(), ListError> {
        let store = self.store.as_ref().ok_or(ListError::NoStore)?;
        if !store.remove_list_entry(id).await? {
            return Err(ListError::NotFound(id));
        }
        tracing::info!(id, "traffic list entry removed");
        self.refresh_lists().await?;
        Ok(())
    }

    /// The block entry that refuses `account`, unless an allow entry covers it. Routes that
    /// authenticate ask this, for the requests whose session the edge could not yet resolve.
    pub fn account_blocked(&self, account: AccountId) -> Option<(i64, String)> {
        let lists = self.shield.lists();
        match lists.find_account(&account.0.to_string(), self.now_us()) {
            Some(Listed::Blocked(rule)) => Some((rule.id, rule.reason.to_string())),
            _ => None,
        }
    }
}
