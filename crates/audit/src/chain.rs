//! The hash chain: each record's hash is SHA-256 over a domain tag, the previous record's hash,
//! its place and every part of its entry, each part length-prefixed so no two entries encode
//! alike. Editing a record changes its hash; deleting or reordering one breaks the next
//! record's link.

use gatehouse_domain::audit::{AuditEntry, AuditRecord};
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS: [u8; 32] = [0; 32];

const TAG: &[u8] = b"gatehouse-audit-v1";

fn part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn optional(h: &mut Sha256, text: Option<&str>) {
    match text {
        None => h.update([0]),
        Some(t) => {
            h.update([1]);
            part(h, t.as_bytes());
        }
    }
}

/// The hash of the record at `seq` with `entry`, following `prev`.
pub fn record_hash(prev: &[u8; 32], seq: u64, entry: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    part(&mut h, TAG);
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(entry.at.as_millisecond().to_be_bytes());
    match entry.actor {
        None => h.update([0]),
        Some(a) => {
            h.update([1]);
            h.update(a.0.to_be_bytes());
        }
    }
    optional(&mut h, entry.role.as_deref());
    part(&mut h, entry.action.as_bytes());
    optional(&mut h, entry.subject.as_deref());
    optional(&mut h, entry.field.as_deref());
    optional(&mut h, entry.purpose.as_deref());
    optional(&mut h, entry.origin.as_deref());
    part(&mut h, entry.detail.as_bytes());
    h.finalize().into()
}

/// `entries` as records continuing the chain after `head` (its place and hash; none for an
/// empty log). Times are cut to the millisecond, as the log keeps them.
pub fn extend(head: Option<(u64, [u8; 32])>, entries: Vec<AuditEntry>) -> Vec<AuditRecord> {
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS));
    entries
        .into_iter()
        .map(|mut entry| {
            entry.at =
                jiff::Timestamp::from_millisecond(entry.at.as_millisecond()).unwrap_or(entry.at);
            seq += 1;
            let hash = record_hash(&prev, seq, &entry);
            let record = AuditRecord {
                seq,
                entry,
                prev_hash: prev,
                hash,
            };
            prev = hash;
            record
        })
        .collect()
}

/// What is wrong with a record, if anything, given the place and hash the chain expects before
/// it.
pub fn check(expected_prev: (u64, [u8; 32]), record: &AuditRecord) -> Option<String> {
    let (prev_seq, prev_hash) = expected_prev;
    if record.seq != prev_seq + 1 {
        return Some(if record.seq > prev_seq + 1 {
            format!("records {} to {} are missing", prev_seq + 1, record.seq - 1)
        } else {
            format!("out of order after record {prev_seq}")
        });
    }
    if record.prev_hash != prev_hash {
        return Some("it does not follow the record before it (deleted or reordered)".into());
    }
    if record_hash(&record.prev_hash, record.seq, &record.entry) != record.hash {
        return Some("its content does not match its hash (edited)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use gatehouse_domain::order::AccountId;

    fn entry(n: i64) -> AuditEntry {
        let mut e = AuditEntry::new(
            jiff::Timestamp::from_second(1_800_000_000 + n).unwrap(),
            Some(AccountId(7)),
            "reveal",
            "order 1",
        );
        e.field = Some("contact_phone".into());
        e.purpose = Some("a visitor called about their order".into());
        e
    }

    #[test]
    fn a_chain_checks_and_every_kind_of_change_is_caught() {
        let records = extend(None, (0..5).map(entry).collect());
        let mut expected = (0, GENESIS);
        for r in &records {
            assert_eq!(check(expected, r), None);
            expected = (r.seq, r.hash);
        }
        let mut edited = records[2].clone();
        edited.entry.purpose = Some("curiosity".into());
        assert!(check((2, records[1].hash), &edited)
            .unwrap()
            .contains("edited"));
        assert!(check((1, records[0].hash), &records[2])
            .unwrap()
            .contains("missing"));
        let mut moved = records[3].clone();
        moved.seq = 3;
        assert!(check((2, records[1].hash), &moved).is_some());
        // A field moved from one part to another changes the hash (length prefixes).
        let mut shifted = records[0].entry.clone();
        shifted.field = None;
        shifted.purpose = Some("contact_phonea visitor called about their order".into());
        assert_ne!(record_hash(&GENESIS, 1, &shifted), records[0].hash);
        // Continuing from a head carries the chain on.
        let more = extend(Some((5, records[4].hash)), vec![entry(9)]);
        assert_eq!(more[0].seq, 6);
        assert_eq!(check((5, records[4].hash), &more[0]), None);
    }
}
