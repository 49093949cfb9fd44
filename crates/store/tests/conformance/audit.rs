//! The audit log's storage: records go in by place, a whole batch or none; a place already
//! taken refuses the batch (so two nodes cannot both extend the chain); a place has one
//! checkpoint; auditors search by actor, action, record and time. (That records cannot be
//! changed is tested with the verifier, in `gatehouse-audit`.)

use gatehouse_domain::audit::{AuditEntry, AuditFilter, AuditRecord, Checkpoint};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::store::StoreError;

use super::{at, Stores};

fn record(seq: u64, actor: i64, action: &str) -> AuditRecord {
    let mut entry = AuditEntry::new(at(seq as i64), Some(AccountId(actor)), action, "detail");
    entry.subject = Some(format!("order:{}", seq % 3));
    entry.field = (action == "reveal").then(|| "contact_phone".into());
    entry.purpose = (action == "reveal").then(|| "the visitor called".into());
    entry.origin = Some("203.0.113.0/24".into());
    AuditRecord {
        seq,
        entry,
        prev_hash: [seq as u8; 32],
        hash: [seq as u8 + 1; 32],
    }
}

pub async fn the_audit_log_keeps_places_and_whole_batches(s: Stores) {
    let log = &s.audit;
    assert_eq!(log.audit_head().await.unwrap(), None);
    let first: Vec<AuditRecord> = (1..=5)
        .map(|n| record(n, 7, if n % 2 == 0 { "reveal" } else { "sign_in" }))
        .collect();
    log.append_audit(&first, None).await.unwrap();
    assert_eq!(log.audit_head().await.unwrap(), Some((5, [6; 32])));
    // A batch whose places overlap is refused whole.
    // A checkpoint rides in its batch's transaction: refused with it, kept with it.
    let checkpoint = Checkpoint {
        seq: 6,
        hash: [7; 32],
        at: at(10),
        key_id: "k1".into(),
        signature: vec![1, 2, 3],
    };
    let clash = vec![record(6, 8, "sign_in"), record(5, 8, "sign_in")];
    assert!(matches!(
        log.append_audit(&clash, Some(&checkpoint)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        log.audit_head().await.unwrap(),
        Some((5, [6; 32])),
        "nothing of it stayed"
    );
    assert!(log.checkpoints().await.unwrap().is_empty());
    log.append_audit(&[record(6, 8, "export")], Some(&checkpoint))
        .await
        .unwrap();
    let all = log.audit_records(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(all[1], first[1], "a record round-trips exactly");
    assert_eq!(log.audit_records(4, 1).await.unwrap()[0].seq, 5, "pages");
    let reveals = log
        .search_audit(
            &AuditFilter {
                action: Some("reveal".into()),
                ..AuditFilter::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        reveals.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![4, 2],
        "newest first"
    );
    let by_actor = log
        .search_audit(
            &AuditFilter {
                actor: Some(AccountId(8)),
                since: Some(at(6)),
                until: Some(at(7)),
                ..AuditFilter::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 1);
    assert!(
        log.append_audit(&[record(7, 8, "export")], Some(&checkpoint))
            .await
            .is_err(),
        "one checkpoint per place, and its batch goes with it"
    );
    assert_eq!(log.audit_head().await.unwrap(), Some((6, [7; 32])));
    assert_eq!(log.checkpoints().await.unwrap(), vec![checkpoint]);
}
