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
