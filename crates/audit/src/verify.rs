//! The verifier behind `gatehouse audit verify`: it walks the log in order, recomputing every
//! hash and link, compares the chain with each signed checkpoint, and names the first record
//! that is edited, missing or out of place — or the records cut from the end after the last
//! checkpoint.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use gatehouse_domain::audit::AuditStore;
use gatehouse_domain::store::StoreError;
use serde_json::json;

use crate::chain::{self, GENESIS};
use crate::signer;

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The record (or the first missing one).
    pub seq: u64,
    pub reason: String,
}

/// What the verifier found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records: u64,
    pub checkpoints: u64,
    /// The last record's place and hash, if the log is not empty.
    pub head: Option<(u64, [u8; 32])>,
    pub broken: Option<Broken>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }

    /// The report as JSON (what the command prints).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "intact": self.is_intact(),
            "records": self.records,
            "checkpoints": self.checkpoints,
            "head": self.head.map(|(seq, hash)| json!({"seq": seq, "hash": hex::encode(hash)})),
            "first_broken": self.broken.as_ref().map(|b| json!({"seq": b.seq, "reason": b.reason})),
        })
    }
}

const PAGE: u32 = 10_000;

/// Verifies the whole log against the checkpoints `public` signed.
pub async fn verify(
    store: &dyn AuditStore,
    public: &VerifyingKey,
) -> Result<Verification, StoreError> {
    let checkpoints = store.checkpoints().await?;
    let mut signed: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    let mut report = Verification {
        records: 0,
        checkpoints: checkpoints.len() as u64,
        head: None,
        broken: None,
    };
    for c in &checkpoints {
        if !signer::verify(public, c) {
            report.broken = Some(Broken {
                seq: c.seq,
                reason: format!(
                    "the checkpoint at record {} is not signed by this key",
                    c.seq
                ),
            });
            return Ok(report);
        }
        signed.insert(c.seq, c.hash);
    }
    let mut expected = (0u64, GENESIS);
    loop {
        let page = store.audit_records(expected.0, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for record in &page {
            if let Some(reason) = chain::check(expected, record) {
                let seq = if record.seq > expected.0 + 1 {
                    expected.0 + 1
                } else {
                    record.seq
                };
                report.broken = Some(Broken { seq, reason });
                return Ok(report);
            }
            if let Some(hash) = signed.get(&record.seq) {
                if *hash != record.hash {
                    report.broken = Some(Broken {
                        seq: record.seq,
                        reason: "the chain differs from its signed checkpoint (rewritten)".into(),
                    });
                    return Ok(report);
                }
            }
            expected = (record.seq, record.hash);
            report.records += 1;
            report.head = Some(expected);
        }
    }
    if let Some((&last_signed, _)) = signed.iter().next_back() {
        if last_signed > expected.0 {
            report.broken = Some(Broken {
                seq: expected.0 + 1,
                reason: format!(
                    "records {} to {last_signed} were deleted (a checkpoint signed record {last_signed})",
                    expected.0 + 1
                ),
            });
        }
    }
    Ok(report)
}
