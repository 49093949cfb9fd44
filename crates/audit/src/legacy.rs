//! Moving the audit trail from before the hash chain (`audit_events`) into the chain, once, at
//! start: oldest first, in batches, each line recorded durably before the batch is removed from
//! the old table. A crash between the two records that batch again on the next start (a
//! duplicate, never a loss).

use gatehouse_domain::account::AccountStore;
use gatehouse_domain::audit::AuditEntry;

use crate::{AuditError, AuditLog};

const BATCH: u32 = 1_000;

/// Moves every old line into `log`; how many were moved.
pub async fn adopt_legacy(log: &AuditLog, accounts: &dyn AccountStore) -> Result<u64, AuditError> {
    let store = |e: gatehouse_domain::store::StoreError| AuditError::Store(e.to_string());
    let mut moved = 0;
    loop {
        let lines = accounts.legacy_audit(BATCH).await.map_err(store)?;
        let Some(&(last, _)) = lines.last() else {
            return Ok(moved);
        };
        let entries: Vec<AuditEntry> = lines
            .into_iter()
            .map(|(_, e)| {
                let mut entry = AuditEntry::new(e.at, e.actor, &e.action, &e.detail);
                entry.role = Some("(before the chain)".into());
                entry
            })
            .collect();
        moved += log.record_many(entries).await?.len() as u64;
        accounts.forget_legacy_audit(last).await.map_err(store)?;
    }
}
