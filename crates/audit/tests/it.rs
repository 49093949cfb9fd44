//! The audit log end to end over a real SQLite store: many writers at once get distinct,
//! gapless places and an intact chain; then an intruder with the database file edits, deletes,
//! reorders, rewrites or truncates records — first dropping the triggers that refuse it — and
//! the verifier names the first broken record every time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use gatehouse_audit::{verify, AppendSettings, AuditLog, CheckpointSigner};
use gatehouse_domain::audit::{AuditEntry, AuditStore};
use gatehouse_domain::clock::SystemClock;
use gatehouse_domain::order::AccountId;
use gatehouse_store::{SqliteDurability, SqliteStore};

struct World {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<SqliteStore>,
    log: AuditLog,
    signer: Arc<CheckpointSigner>,
}

async fn world(checkpoint_every: u64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.db");
    let store = Arc::new(
        SqliteStore::open(&path, SqliteDurability::Normal)
            .await
            .unwrap(),
    );
    let signer = Arc::new(CheckpointSigner::load_or_create(&dir.path().join("audit.key")).unwrap());
    let log = AuditLog::start(
        store.clone(),
        signer.clone(),
        Arc::new(SystemClock),
        AppendSettings {
            max_batch: 512,
            checkpoint_every,
            checkpoint_interval: Duration::from_secs(3600),
        },
    );
    World {
        _dir: dir,
        path,
        store,
        log,
        signer,
    }
}

fn entry(n: u64) -> AuditEntry {
    let mut e = AuditEntry::new(
        jiff::Timestamp::from_second(1_800_000_000 + n as i64).unwrap(),
        Some(AccountId((n % 5) as i64 + 1)),
        if n.is_multiple_of(3) {
            "reveal"
        } else {
            "sign_in"
        },
        "masked only",
    );
    e.subject = Some(format!("order:{n}"));
    e.purpose = n
        .is_multiple_of(3)
        .then(|| "the visitor asked for a correction".into());
    e
}

/// Records `count` entries from 20 writers at once.
async fn fill(w: &World, count: u64) {
    let writers: Vec<_> = (0..20)
        .map(|k| {
            let log = w.log.clone();
            tokio::spawn(async move {
                let mut places = Vec::new();
                for n in (k..count).step_by(20) {
                    places.push(log.record(entry(n)).await.unwrap());
                }
                places
            })
        })
        .collect();
    let mut places = Vec::new();
    for writer in writers {
        places.extend(writer.await.unwrap());
    }
    places.sort_unstable();
    assert_eq!(
        places,
        (1..=count).collect::<Vec<_>>(),
        "distinct places without gaps"
    );
}

async fn intruder(w: &World) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", w.path.display()))
        .await
        .unwrap()
}

async fn run(pool: &sqlx::SqlitePool, sql: &str) {
    sqlx::query(sql).execute(pool).await.unwrap();
}

async fn broken_at(w: &World) -> Option<(u64, String)> {
    verify(w.store.as_ref(), &w.signer.public())
        .await
        .unwrap()
        .broken
        .map(|b| (b.seq, b.reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_make_one_intact_chain_with_checkpoints() {
    let w = world(100).await;
    fill(&w, 2_000).await;
    let report = verify(w.store.as_ref(), &w.signer.public()).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2_000);
    assert!(report.checkpoints >= 2, "{report:?}");
    assert_eq!(report.head.map(|h| h.0), Some(2_000));
    // A key that did not sign the checkpoints does not vouch for them.
    let other = CheckpointSigner::from_seed(&[9; 32]);
    let wrong = verify(w.store.as_ref(), &other.public()).await.unwrap();
    assert!(wrong.broken.unwrap().reason.contains("not signed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_record_is_named() {
    let w = world(100).await;
    fill(&w, 300).await;
    let db = intruder(&w).await;
    assert!(
        sqlx::query("UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 120")
            .execute(&db)
            .await
            .is_err(),
        "the trigger refuses it"
    );
    run(&db, "DROP TRIGGER audit_log_no_update").await;
    run(
        &db,
        "UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 120",
    )
    .await;
    let (seq, reason) = broken_at(&w).await.unwrap();
    assert_eq!(seq, 120);
    assert!(reason.contains("edited"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_record_is_named() {
    let w = world(100).await;
    fill(&w, 300).await;
    let db = intruder(&w).await;
    run(&db, "DROP TRIGGER audit_log_no_delete").await;
    run(&db, "DELETE FROM audit_log WHERE seq = 77").await;
    let (seq, reason) = broken_at(&w).await.unwrap();
    assert_eq!(seq, 77);
    assert!(reason.contains("missing"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_records_are_named() {
    let w = world(100).await;
    fill(&w, 300).await;
    let db = intruder(&w).await;
    run(&db, "DROP TRIGGER audit_log_no_update").await;
    run(&db, "UPDATE audit_log SET seq = -1 WHERE seq = 150").await;
    run(&db, "UPDATE audit_log SET seq = 150 WHERE seq = 151").await;
    run(&db, "UPDATE audit_log SET seq = 151 WHERE seq = -1").await;
    let (seq, _) = broken_at(&w).await.unwrap();
    assert_eq!(seq, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_chain_fails_its_signed_checkpoint() {
    let w = world(100).await;
    fill(&w, 300).await;
    // The intruder edits a record before the last checkpoint and recomputes every hash from
    // there on, so every link holds — but the signed checkpoint no longer matches. (Records
    // after the last checkpoint have only their links until the next one is signed.)
    let last_signed = w.store.checkpoints().await.unwrap().last().unwrap().seq;
    let target = last_signed - 20;
    let records = w.store.audit_records(0, 1_000).await.unwrap();
    let db = intruder(&w).await;
    run(&db, "DROP TRIGGER audit_log_no_update").await;
    let mut prev = records[target as usize - 2].hash;
    for r in &records[target as usize - 1..] {
        let mut entry = r.entry.clone();
        if r.seq == target {
            entry.purpose = Some("rewritten".into());
        }
        let hash = gatehouse_audit::chain::record_hash(&prev, r.seq, &entry);
        sqlx::query("UPDATE audit_log SET purpose = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(entry.purpose.as_deref())
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .bind(r.seq as i64)
            .execute(&db)
            .await
            .unwrap();
        prev = hash;
    }
    let (seq, reason) = broken_at(&w).await.unwrap();
    assert_eq!(seq, last_signed);
    assert!(reason.contains("checkpoint"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cut_from_the_end_are_named() {
    let w = world(50).await;
    fill(&w, 300).await;
    let last_signed = w.store.checkpoints().await.unwrap().last().unwrap().seq;
    let db = intruder(&w).await;
    run(&db, "DROP TRIGGER audit_log_no_delete").await;
    sqlx::query("DELETE FROM audit_log WHERE seq > $1")
        .bind(last_signed as i64 - 10)
        .execute(&db)
        .await
        .unwrap();
    let (seq, reason) = broken_at(&w).await.unwrap();
    assert_eq!(seq, last_signed - 9);
    assert!(reason.contains("deleted"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_trail_moves_into_the_chain_once_in_order() {
    use gatehouse_domain::account::{AccountStore, AuditEvent};
    let w = world(100).await;
    for n in 0..2_500 {
        w.store
            .record_audit(&AuditEvent {
                at: jiff::Timestamp::from_second(1_700_000_000 + n).unwrap(),
                actor: Some(AccountId(1)),
                action: "sign_in".into(),
                detail: format!("old line {n}"),
            })
            .await
            .unwrap();
    }
    let moved = gatehouse_audit::adopt_legacy(&w.log, w.store.as_ref())
        .await
        .unwrap();
    assert_eq!(moved, 2_500);
    assert!(
        w.store.legacy_audit(10).await.unwrap().is_empty(),
        "the old table is empty"
    );
    assert_eq!(
        gatehouse_audit::adopt_legacy(&w.log, w.store.as_ref())
            .await
            .unwrap(),
        0,
        "once"
    );
    let records = w.store.audit_records(0, 10_000).await.unwrap();
    assert_eq!(records.len(), 2_500);
    assert_eq!(records[0].entry.detail, "old line 0");
    assert_eq!(records[2_499].entry.detail, "old line 2499", "in order");
    assert!(verify(w.store.as_ref(), &w.signer.public())
        .await
        .unwrap()
        .is_intact());
}
