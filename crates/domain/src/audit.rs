//! The audit log as the domain sees it: who did what to which record, when, from where and for
//! what purpose — sign-ins, role changes, every reveal, export and bulk query of personal data.
//! Records hold no personal data in clear (masked values and record ids only). The log is
//! append-only and hash-chained: each record commits to the one before it, and signed
//! checkpoints commit to the chain so far (the hashing and signing live in `gatehouse-audit`;
//! this module has the records and the storage port).

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use crate::order::AccountId;
use crate::store::StoreError;

/// What a caller records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// When, to the millisecond (what the log keeps and hashes).
    pub at: Timestamp,
    /// Who acted, if known.
    pub actor: Option<AccountId>,
    /// The roles they acted with (`customer_support`), if staff.
    pub role: Option<String>,
    /// What happened, a stable name (`sign_in`, `reveal`, `export`, `roles_changed`…).
    pub action: String,
    /// The record acted on (`order:1f3a…`, `account:7`).
    pub subject: Option<String>,
    /// The field revealed or changed (`contact_phone`).
    pub field: Option<String>,
    /// Why, as the member of staff stated it.
    pub purpose: Option<String>,
    /// From where: the client's network (`203.0.113.0/24`), never its full address.
    pub origin: Option<String>,
    /// Free text without personal data (masked values only).
    pub detail: String,
}

impl AuditEntry {
    /// An entry with only the essentials; the rest can be set on the value.
    pub fn new(at: Timestamp, actor: Option<AccountId>, action: &str, detail: &str) -> Self {
        Self {
            at,
            actor,
            role: None,
            action: action.to_owned(),
            subject: None,
            field: None,
            purpose: None,
            origin: None,
            detail: detail.to_owned(),
        }
    }
}

/// A record as the log keeps it: its place, its entry, and the chain's hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// 1, 2, 3 … without gaps.
    pub seq: u64,
    pub entry: AuditEntry,
    /// The hash of the record before (zeros for the first).
    pub prev_hash: [u8; 32],
    /// This record's hash, over `prev_hash`, `seq` and the entry.
    pub hash: [u8; 32],
}

/// A signed statement that the chain up to `seq` ends in `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: [u8; 32],
    pub at: Timestamp,
    /// Which signing key (its public key's fingerprint).
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// What auditors search by; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<AccountId>,
    pub action: Option<String>,
    pub subject: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only records after this one (paging forward).
    pub after_seq: Option<u64>,
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// The last record's place and hash; none while the log is empty.
    async fn audit_head(&self) -> Result<Option<(u64, [u8; 32])>, StoreError>;
    /// Appends records that continue the chain, all or none. A record whose place is taken
    /// (another node appended first) fails the whole batch with `StoreError::Conflict`. A
    /// checkpoint of the batch's last record, when given, is written in the same transaction
    /// (a second commit per checkpoint cost a fifth of the appends at 256 writers).
    async fn append_audit(
        &self,
        records: &[AuditRecord],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<(), StoreError>;
    /// Records in order of place, after `after_seq`, at most `limit`.
    async fn audit_records(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Records matching `filter`, newest first, at most `limit`.
    async fn search_audit(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Every checkpoint, in order of place.
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;
}
