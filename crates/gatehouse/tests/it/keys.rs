//! The keys that protect personal data, on the real binary: `gatehouse keys rotate` while the
//! server serves (values keep opening, new people get keys under the new version, the old
//! version leaves the key file, a restarted server reads everything), and a database restored
//! from a backup taken before an erasure does not bring the erased person back.

use std::path::Path;

use hyper::Method;
use serde_json::{json, Value};

use super::{
    admin_token, booking, command, drop_schema, rush_product, send, visitor_token, Db, Server,
};

async fn keys(data_dir: &Path, db: &Db, args: &[&str]) -> Value {
    let out = command(data_dir, db)
        .arg("keys")
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn book(addr: &str, token: &str, slot: i64, tt: i64, id_number: &str) -> Value {
    let (s, order) = send(
        addr,
        Method::POST,
        "/api/v1/orders",
        Some(token),
        Some(booking(slot, tt, "王五", id_number, "13812345678")),
    )
    .await;
    assert_eq!(s, 201, "{order}");
    order
}

#[tokio::test]
async fn keys_rotate_while_the_server_serves() {
    for db in super::databases("keys") {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let admin = admin_token(dir.path(), &db).await;
        let server = Server::start(dir.path(), &db, &log, false).await;
        let (slot, tt) = rush_product(&server.addr, &admin, 100).await;
        let first = visitor_token(&server.addr, &admin, "13600000001").await;
        let id_number = gatehouse_domain::identity::synthetic_resident_id(7);
        let order = book(&server.addr, &first, slot, tt, &id_number).await;
        let before = keys(dir.path(), &db, &["status"]).await;
        assert_eq!(before["current"], 1, "{before}");
        assert_eq!(before["data_keys_by_version"]["1"], 1, "{before}");

        let rotated = keys(dir.path(), &db, &["rotate", "--settle-secs", "3"]).await;
        assert_eq!(rotated["new_version"], 2, "{rotated}");
        assert_eq!(rotated["retired"], json!([1]), "{rotated}");
        assert_eq!(rotated["rewrapped"], 1, "{rotated}");
        let file = std::fs::read_to_string(dir.path().join("keys")).unwrap();
        assert!(!file.contains("master.1=") && file.contains("master.2="));

        // The server kept serving: the old order opens, a new person gets a key under v2.
        let id = order["id"].as_str().unwrap();
        let (s, seen) = send(
            &server.addr,
            Method::GET,
            &format!("/api/v1/orders/{id}"),
            Some(&first),
            None,
        )
        .await;
        assert_eq!(
            (s, seen["contact_phone"].as_str()),
            (200, Some("138****5678")),
            "{seen}"
        );
        let second = visitor_token(&server.addr, &admin, "13600000002").await;
        book(
            &server.addr,
            &second,
            slot,
            tt,
            &gatehouse_domain::identity::synthetic_resident_id(8),
        )
        .await;
        // Blind indexes did not change: the same ID number on the same day is still one person.
        let (s, again) = send(
            &server.addr,
            Method::POST,
            "/api/v1/orders",
            Some(&second),
            Some(booking(slot, tt, "王五", &id_number, "13812345678")),
        )
        .await;
        assert_eq!(
            s, 409,
            "the per-ID limit still recognises the visitor: {again}"
        );
        let after = keys(dir.path(), &db, &["status"]).await;
        assert_eq!(after["data_keys_by_version"], json!({"2": 2}), "{after}");
        server.stop().await;

        // A restarted server has only version 2 and still opens the first order.
        let server = Server::start(dir.path(), &db, &log, false).await;
        let (s, seen) = send(
            &server.addr,
            Method::GET,
            &format!("/api/v1/orders/{id}"),
            Some(&first),
            None,
        )
        .await;
        assert_eq!(
            (s, seen["tickets"][0]["visitor"]["name"].as_str()),
            (200, Some("王*")),
            "{seen}"
        );
        server.stop().await;
        drop_schema(&db).await;
    }
}

fn copy_database(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm"] {
        let source = from.join(name);
        let target = to.join(name);
        let _ = std::fs::remove_file(&target);
        if source.exists() {
            std::fs::copy(&source, &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_restored_backup_does_not_bring_an_erased_person_back() {
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let db = Db::Sqlite;
    let admin = admin_token(dir.path(), &db).await;
    let server = Server::start(dir.path(), &db, &log, false).await;
    let phone = "13600000009";
    let token = visitor_token(&server.addr, &admin, phone).await;
    let (s, _) = send(
        &server.addr,
        Method::POST,
        "/api/v1/me/visitors",
        Some(&token),
        Some(json!({"name": "赵六", "id_type": "resident_id", "id_number": gatehouse_domain::identity::synthetic_resident_id(9)})),
    )
    .await;
    assert_eq!(s, 201);
    server.stop().await;
    copy_database(dir.path(), backup.path());

    let server = Server::start(dir.path(), &db, &log, false).await;
    let (s, erased) = send(
        &server.addr,
        Method::DELETE,
        "/api/v1/me",
        Some(&token),
        Some(json!({"confirm": "erase my account"})),
    )
    .await;
    assert_eq!(s, 200, "{erased}");
    server.stop().await;

    // The museum restores last night's backup: the person is in it.
    copy_database(backup.path(), dir.path());
    let server = Server::start(dir.path(), &db, &log, false).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("erased again"),
        "the start erased the person again"
    );
    let (s, _) = send(&server.addr, Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(s, 401, "the restored session is gone");
    let fresh = visitor_token(&server.addr, &admin, phone).await;
    let (_, visitors) = send(
        &server.addr,
        Method::GET,
        "/api/v1/me/visitors",
        Some(&fresh),
        None,
    )
    .await;
    assert_eq!(
        visitors["visitors"],
        json!([]),
        "a new, empty account: {visitors}"
    );
    let status = keys(dir.path(), &db, &["status"]).await;
    assert_eq!(
        status["data_keys_by_version"]["1"], 1,
        "only the new account's key: {status}"
    );
    server.stop().await;
}

/// Seals `clear` as Gatehouse did before per-person keys: format byte 1, nonce, AES-256-GCM
/// under the key file's one data key, bound to `context`.
fn legacy_seal(key: &[u8; 32], n: u8, clear: &str, context: &str) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let cipher = aes_gcm::Aes256Gcm::new(aes_gcm::Key::<aes_gcm::Aes256Gcm>::from_slice(key));
    let nonce = [n; 12];
    let sealed = cipher
        .encrypt(
            aes_gcm::Nonce::from_slice(&nonce),
            Payload {
                msg: clear.as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .unwrap();
    [vec![1], nonce.to_vec(), sealed].concat()
}

async fn export(addr: &str, token: &str) -> Value {
    let (s, data) = send(
        addr,
        Method::GET,
        "/api/v1/me/data-export",
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, 200, "{data}");
    data
}

/// A database from before per-person keys: every value sealed under the key file's one data
/// key (v1 key file). A server re-seals them under their owners' keys at start; a rotation then
/// retires the old key, and everything still opens.
#[tokio::test]
async fn values_sealed_before_per_person_keys_are_sealed_again_and_the_old_key_retired() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let db = Db::Sqlite;
    let data_key = [0x5a; 32];
    std::fs::write(
        dir.path().join("keys"),
        format!(
            "gatehouse-keys-v1:{}:{}\n",
            hex::encode(data_key),
            hex::encode([0x3c; 32])
        ),
    )
    .unwrap();
    let admin = admin_token(dir.path(), &db).await;
    let server = Server::start(dir.path(), &db, &log, false).await;
    let (slot, tt) = rush_product(&server.addr, &admin, 100).await;
    let phone = "13600000011";
    let token = visitor_token(&server.addr, &admin, phone).await;
    let id_number = gatehouse_domain::identity::synthetic_resident_id(11);
    let order = book(&server.addr, &token, slot, tt, &id_number).await;
    let friend = gatehouse_domain::identity::synthetic_resident_id(12);
    let (s, _) = send(
        &server.addr,
        Method::POST,
        "/api/v1/me/visitors",
        Some(&token),
        Some(json!({"name": "赵六", "id_type": "resident_id", "id_number": friend, "phone": "13900000012"})),
    )
    .await;
    assert_eq!(s, 201);
    let before = export(&server.addr, &token).await;
    server.stop().await;

    // Turn the database into one written before per-person keys: no data keys, every value
    // sealed under the old single key.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("gatehouse.db").display()
    ))
    .await
    .unwrap();
    let mut n = 0u8;
    let mut legacy = |clear: &str, context: String| {
        n += 1;
        legacy_seal(&data_key, n, clear, &context)
    };
    let (account, index): (i64, Vec<u8>) =
        sqlx::query_as("SELECT id, phone_index FROM accounts WHERE phone_index IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    let order_id = order["id"].as_str().unwrap();
    let ticket: String = sqlx::query_scalar("SELECT id FROM tickets WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let visitor: String = sqlx::query_scalar("SELECT id FROM frequent_visitors")
        .fetch_one(&pool)
        .await
        .unwrap();
    let writes: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "UPDATE accounts SET phone_sealed = $1 WHERE id = $2",
            legacy(phone, format!("account/{}/phone", hex::encode(&index))),
            account.to_string(),
        ),
        (
            "UPDATE orders SET contact_phone = $1 WHERE id = $2",
            legacy("13812345678", format!("order/{order_id}/contact_phone")),
            order_id.to_string(),
        ),
        (
            "UPDATE tickets SET visitor_name = $1 WHERE id = $2",
            legacy("王五", format!("ticket/{ticket}/visitor_name")),
            ticket.clone(),
        ),
        (
            "UPDATE tickets SET id_number = $1 WHERE id = $2",
            legacy(&id_number, format!("ticket/{ticket}/id_number")),
            ticket.clone(),
        ),
        (
            "UPDATE frequent_visitors SET name = $1 WHERE id = $2",
            legacy("赵六", format!("visitor/{visitor}/name")),
            visitor.clone(),
        ),
        (
            "UPDATE frequent_visitors SET id_number = $1 WHERE id = $2",
            legacy(&friend, format!("visitor/{visitor}/id_number")),
            visitor.clone(),
        ),
        (
            "UPDATE frequent_visitors SET phone = $1 WHERE id = $2",
            legacy("13900000012", format!("visitor/{visitor}/phone")),
            visitor.clone(),
        ),
    ];
    for (sql, value, row) in writes {
        let done = sqlx::query(sql)
            .bind(value)
            .bind(row)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1, "{sql}");
    }
    sqlx::query("DELETE FROM data_keys WHERE subject = $1")
        .bind(format!("account/{account}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let status = keys(dir.path(), &db, &["status"]).await;
    assert_eq!(
        status["legacy_values_left"],
        json!({
            "accounts.phone_sealed": 1, "orders.contact_phone": 1,
            "tickets.visitor_name": 1, "tickets.id_number": 1,
            "frequent_visitors.name": 1, "frequent_visitors.id_number": 1,
            "frequent_visitors.phone": 1,
        }),
        "{status}"
    );

    // A server re-seals them at start, in the background.
    let server = Server::start(dir.path(), &db, &log, false).await;
    let mut left = json!(null);
    for _ in 0..100 {
        left = keys(dir.path(), &db, &["status"]).await["legacy_values_left"].clone();
        if left == json!({}) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, json!({}), "all re-sealed");
    assert_eq!(
        export(&server.addr, &token).await["orders"],
        before["orders"],
        "the orders read the same"
    );

    // The rotation retires the old key with the old master version.
    let rotated = keys(dir.path(), &db, &["rotate", "--settle-secs", "0"]).await;
    assert_eq!(rotated["legacy_key_retired"], true, "{rotated}");
    assert_eq!(rotated["legacy_key"], false, "{rotated}");
    let file = std::fs::read_to_string(dir.path().join("keys")).unwrap();
    assert!(!file.contains("legacy="), "{file}");
    server.stop().await;

    // Restarted with only the new master key, everything opens, exactly as before.
    let server = Server::start(dir.path(), &db, &log, false).await;
    let after = export(&server.addr, &token).await;
    for part in ["sign_in_phone", "frequent_visitors", "orders"] {
        assert_eq!(after[part], before[part], "{part}");
    }
    assert_eq!(after["sign_in_phone"], phone);
    server.stop().await;
}

/// Two rotations at once would both add "the next" version and one would be lost: the second
/// is refused while the first runs.
#[tokio::test]
async fn a_second_rotation_is_refused_while_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::Sqlite;
    admin_token(dir.path(), &db).await;
    let first = command(dir.path(), &db)
        .args(["keys", "rotate", "--settle-secs", "4"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first holds the lock from before it writes the key file until it is done.
    let lock = dir.path().join("keys.lock");
    for _ in 0..100 {
        if std::fs::read_to_string(dir.path().join("keys")).is_ok_and(|f| f.contains("master.2=")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(lock.exists());
    let second = command(dir.path(), &db)
        .args(["keys", "rotate", "--settle-secs", "0"])
        .output()
        .await
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains("another `gatehouse keys rotate` is running"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let first = first.wait_with_output().await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let status = keys(dir.path(), &db, &["status"]).await;
    assert_eq!(
        (status["current"].as_u64(), status["versions"].clone()),
        (Some(2), json!([2])),
        "{status}"
    );
    // Once it is done, the next rotation runs.
    let again = keys(dir.path(), &db, &["rotate", "--settle-secs", "0"]).await;
    assert_eq!(again["new_version"], 3, "{again}");
}
