//! `gatehouse audit verify` on a real data directory: the records staff actions wrote verify
//! intact (exit 0); after an intruder edits one record in the SQLite file — dropping the
//! trigger that refuses it first — the command exits 1 and names that record.

use std::path::Path;

use serde_json::Value;

use super::{admin_token, command, Db};

async fn verify(data_dir: &Path) -> (i32, Value) {
    let out = command(data_dir, &Db::Sqlite)
        .args(["audit", "verify"])
        .output()
        .await
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

#[tokio::test]
async fn audit_verify_passes_an_intact_log_and_names_an_edited_record() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        admin_token(dir.path(), &Db::Sqlite).await;
    }
    let (code, report) = verify(dir.path()).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["intact"], true);
    assert_eq!(report["records"], 3);
    assert!(report["checkpoints"].as_u64().unwrap() >= 1, "{report}");
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("gatehouse.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 2")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let (code, report) = verify(dir.path()).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["intact"], false);
    assert_eq!(report["first_broken"]["seq"], 2, "{report}");
}
