//! Tests of the real `gatehouse` binary: started on a random port, spoken to over HTTP, killed
//! with SIGKILL. SQLite always; PostgreSQL too when `GH_TEST_PG_URL` is set (`.ci/run` sets it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_bench::Conn;
use gatehouse_domain::identity::synthetic_resident_id;
use hyper::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use gatehouse_providers::courier::Delivery;
use gatehouse_providers::wechatpay_fake::{FakeWeChatPay, FakeWeChatPayKeys};
use gatehouse_providers::FakeServer;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

#[path = "it/audit.rs"]
mod audit;
#[path = "it/browser.rs"]
mod browser;
#[path = "it/console.rs"]
mod console;
#[path = "it/firewall.rs"]
mod firewall;
#[path = "it/gate.rs"]
mod gate;
#[path = "it/keys.rs"]
mod keys;
#[path = "it/seats.rs"]
mod seats;
#[path = "it/web.rs"]
mod web;

/// Which database a server runs on.
#[derive(Clone)]
enum Db {
    Sqlite,
    Postgres { url: String, schema: String },
}

fn databases(name: &str) -> Vec<Db> {
    let mut dbs = vec![Db::Sqlite];
    match std::env::var("GH_TEST_PG_URL") {
        Ok(url) => dbs.push(Db::Postgres {
            url,
            schema: format!("gh_{name}_{}", std::process::id()),
        }),
        Err(_) => eprintln!("PostgreSQL part skipped: GH_TEST_PG_URL is not set"),
    }
    dbs
}

fn command(data_dir: &Path, db: &Db) -> Command {
    let mut cmd = Command::new(BIN);
    // Every test client comes from 127.0.0.1: no traffic limits unless a test sets its own.
    let policy = data_dir.join("shield-open.toml");
    if !policy.exists() {
        std::fs::write(&policy, gatehouse_bench::OPEN_POLICY).unwrap();
    }
    cmd.env("GATEHOUSE_DATA_DIR", data_dir)
        .env("GATEHOUSE_SHIELD__POLICY", &policy)
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_LOG", "debug")
        // Every test client signs in from 127.0.0.1.
        .env(
            "GATEHOUSE_IDENTITY__LIMITS__CODE_SENDS_PER_IP__BURST",
            "100000",
        )
        // The same scripted client from one address books for many accounts: risk control
        // assesses and records it but acts only where a test says (`sim rush` and the API
        // tests are where it acts).
        .env("GATEHOUSE_RISK__MODE", "observe");
    if let Db::Postgres { url, schema } = db {
        cmd.env("GATEHOUSE_DATABASE__URL", url)
            .env("GATEHOUSE_DATABASE__PG_SCHEMA", schema);
    }
    cmd
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts `gatehouse serve`, logging to `log`, and waits for its address.
    async fn start(data_dir: &Path, db: &Db, log: &Path, demo: bool) -> Self {
        Self::start_with(data_dir, db, log, demo, &[]).await
    }

    /// [`Server::start`] with more `GATEHOUSE_…` settings.
    async fn start_with(
        data_dir: &Path,
        db: &Db,
        log: &Path,
        demo: bool,
        env: &[(String, String)],
    ) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = command(data_dir, db)
            .arg("serve")
            .env("GATEHOUSE_DEMO_CATALOGUE", demo.to_string())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("server did not start")
            .unwrap()
            .expect("server exited");
        let addr = line
            .split("http://")
            .nth(1)
            .expect("no address printed")
            .trim()
            .to_owned();
        Self { child, addr }
    }

    fn kill9(&mut self) {
        let pid = self.child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn stop(mut self) {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("server did not stop on SIGTERM")
            .unwrap();
    }
}

async fn admin_token(data_dir: &Path, db: &Db) -> String {
    token_with_roles(data_dir, db, "administrator").await
}

/// A session token for a new account holding `roles`, made with the CLI.
async fn token_with_roles(data_dir: &Path, db: &Db, roles: &str) -> String {
    let out = command(data_dir, db)
        .args([
            "admin",
            "create-account",
            "--name",
            "staff",
            "--roles",
            roles,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// Signs a phone in the way a visitor does: a texted code (read from the local provider's
/// outbox by staff), then the sign-in. Returns the session token.
async fn visitor_token(addr: &str, admin: &str, phone: &str) -> String {
    let (s, _) = send(
        addr,
        Method::POST,
        "/api/v1/auth/phone/code",
        None,
        Some(json!({"phone": phone})),
    )
    .await;
    assert_eq!(s, 202);
    let (_, outbox) = send(
        addr,
        Method::GET,
        &format!("/api/v1/admin/sms-outbox?phone={phone}"),
        Some(admin),
        None,
    )
    .await;
    let text = outbox["messages"].as_array().unwrap().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let (s, session) = send(
        addr,
        Method::POST,
        "/api/v1/auth/phone/sign-in",
        None,
        Some(json!({"phone": phone, "code": code})),
    )
    .await;
    assert_eq!(s, 200, "{session}");
    session["access_token"].as_str().unwrap().to_owned()
}

async fn send(
    addr: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut c = Conn::open(addr).await.unwrap();
    let r = c.send(method, path, token, body.as_ref()).await.unwrap();
    (r.status, r.json().unwrap_or(Value::Null))
}

/// A product open for booking now (window 30 days ahead) with one slot tomorrow.
async fn rush_product(addr: &str, admin: &str, capacity: u32) -> (i64, i64) {
    let (s, p) = send(addr, Method::POST, "/api/v1/admin/products", Some(admin), Some(json!({"kind": "entry", "name": "test", "rules": {"open_days_before": 30, "max_orders_per_account_per_day": 50}}))).await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_i64().unwrap();
    let (_, tt) = send(
        addr,
        Method::POST,
        &format!("/api/v1/admin/products/{id}/ticket-types"),
        Some(admin),
        Some(json!({"name": "t", "price_fen": 0})),
    )
    .await;
    send(
        addr,
        Method::POST,
        &format!("/api/v1/admin/products/{id}/notices"),
        Some(admin),
        Some(json!({"text": "n"})),
    )
    .await;
    let tomorrow = gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date()
        .tomorrow()
        .unwrap();
    let (s, slot) = send(addr, Method::POST, &format!("/api/v1/admin/products/{id}/slots"), Some(admin), Some(json!({"date": tomorrow.to_string(), "start": "10:00", "end": "11:00", "capacity": capacity}))).await;
    assert_eq!(s, 201, "{slot}");
    (slot["id"].as_i64().unwrap(), tt["id"].as_i64().unwrap())
}

fn booking(slot: i64, tt: i64, name: &str, id_number: &str, phone: &str) -> Value {
    json!({"slot_id": slot, "notice_version": 1, "contact_phone": phone,
           "tickets": [{"ticket_type_id": tt, "visitor": {"name": name, "id_type": "resident_id", "id_number": id_number}}]})
}

async fn drop_schema(db: &Db) {
    if let Db::Postgres { url, schema } = db {
        gatehouse_store::PgStore::drop_schema(url, schema)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn first_start_serves_the_demo_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &Db::Sqlite, &dir.path().join("log"), true).await;
    let (s, body) = send(&server.addr, Method::GET, "/api/v1/products", None, None).await;
    assert_eq!(s, 200);
    let products = body["products"].as_array().unwrap();
    let kinds: Vec<&str> = products
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(products.len(), 6, "entry, hall, two activities, two films");
    for kind in ["entry", "hall", "activity", "cinema"] {
        assert!(kinds.contains(&kind));
    }
    let entry = products.iter().find(|p| p["kind"] == "entry").unwrap();
    let (_, slots) = send(
        &server.addr,
        Method::GET,
        &format!("/api/v1/products/{}/slots", entry["id"]),
        None,
        None,
    )
    .await;
    let starts: Vec<&str> = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .take(4)
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert_eq!(starts, ["09:00", "10:30", "13:00", "14:30"]);
    assert!(
        std::fs::metadata(dir.path().join("keys")).is_ok(),
        "the key file was created"
    );
    server.stop().await;
}

/// Many concurrent HTTP clients against the real server (the rush benchmark, small): exactly the
/// capacity is sold, no ID number beyond its limit, and the server's counts agree.
#[tokio::test]
async fn a_concurrent_rush_over_http_neither_oversells_nor_breaks_limits() {
    for db in databases("rush") {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args([
            "bench",
            "rush",
            "--visitors",
            "1500",
            "--connections",
            "150",
            "--tickets-per-slot",
            "100",
            "--shared-id-percent",
            "30",
        ]);
        if let Db::Postgres { url, .. } = &db {
            cmd.args(["--postgres", url]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["oversold"], 0, "{r}");
        assert_eq!(r["over_limit"], 0, "{r}");
        assert_eq!(r["confirmed"], 400, "{r}");
        assert_eq!(r["server_agrees"], true, "{r}");
        assert!(
            r["limit_rejected"].as_u64().unwrap() > 0,
            "shared IDs were refused: {r}"
        );
        assert_eq!(r["other_errors"], json!({}), "{r}");
    }
}

/// The rush simulator, small, against the real server with risk control enforcing: scalper
/// rings and bots get no more than 5 % of the tickets, no family is refused, nothing is
/// oversold, and the labels are told apart (every bot challenged, every ring refused).
#[tokio::test]
async fn the_rush_simulator_keeps_rings_and_bots_from_the_tickets() {
    let out = std::process::Command::new(BIN)
        .args([
            "sim",
            "rush",
            "--families",
            "240",
            "--casual-scalpers",
            "4",
            "--rings",
            "2",
            "--ring-accounts",
            "15",
            "--bots",
            "40",
            "--capacity",
            "300",
            "--join-secs",
            "2",
            "--human-min-secs",
            "2",
            "--human-max-secs",
            "3",
            "--deadline-secs",
            "90",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["oversold"], false, "{r}");
    assert_eq!(r["tickets_sold"], r["slot_lost"], "{r}");
    assert_eq!(
        r["targets"]["rings_and_bots_at_most_5_percent"], true,
        "{r}"
    );
    assert_eq!(
        r["targets"]["families_wrongly_rejected_at_most_half_a_percent"], true,
        "{r}"
    );
    assert_eq!(r["families_wrongly_rejected"]["accounts"], 0, "{r}");
    assert_eq!(r["populations"]["bots"]["challenged"], 40, "{r}");
    assert_eq!(r["populations"]["rings"]["refused_by_risk"], 30, "{r}");
    assert!(
        r["populations"]["families"]["tickets"].as_u64().unwrap() > 0,
        "{r}"
    );
}

/// SIGKILL in the middle of a rush: every booking answered 201 is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_bookings_survive_kill_9() {
    for db in databases("kill") {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let admin = admin_token(dir.path(), &db).await;
        let mut server = Server::start(dir.path(), &db, &log, false).await;
        let (slot, tt) = rush_product(&server.addr, &admin, 100_000).await;
        let mut tokens = Vec::new();
        for n in 0..64 {
            tokens.push(visitor_token(&server.addr, &admin, &format!("137{n:08}")).await);
        }
        let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for token in tokens {
            let (addr, acked, next, stop) = (
                server.addr.clone(),
                acked.clone(),
                next.clone(),
                stop.clone(),
            );
            clients.push(tokio::spawn(async move {
                let Ok(mut c) = Conn::open(&addr).await else {
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    let n = u32::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap();
                    let body = booking(slot, tt, "游客", &synthetic_resident_id(n), "13800000000");
                    match c
                        .send(Method::POST, "/api/v1/orders", Some(&token), Some(&body))
                        .await
                    {
                        Ok(r) if r.status == 201 => acked.lock().unwrap().push((
                            token.clone(),
                            r.json().unwrap()["id"].as_str().unwrap().to_owned(),
                        )),
                        Ok(r) => assert!(
                            r.code() == "order_limit_reached",
                            "unexpected answer {} {}",
                            r.status,
                            r.code()
                        ),
                        Err(_) => return, // the server died under us
                    }
                }
            }));
        }
        // Let the rush run until a good number of bookings were acknowledged, then kill.
        while acked.lock().unwrap().len() < 100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
        let _ = server.child.wait().await;
        let acked = acked.lock().unwrap().clone();

        let server = Server::start(dir.path(), &db, &log, false).await;
        for (token, order) in &acked {
            let (s, o) = send(
                &server.addr,
                Method::GET,
                &format!("/api/v1/orders/{order}"),
                Some(token),
                None,
            )
            .await;
            assert_eq!(
                s,
                200,
                "acknowledged order {order} lost after kill -9 ({} acknowledged)",
                acked.len()
            );
            assert_eq!(o["state"], "confirmed");
        }
        let (_, availability) = send(
            &server.addr,
            Method::GET,
            &format!("/api/v1/slots/{slot}"),
            None,
            None,
        )
        .await;
        let taken = 100_000 - availability["remaining"].as_i64().unwrap();
        assert!(
            taken >= i64::try_from(acked.len()).unwrap(),
            "stock taken {taken} < acknowledged {}",
            acked.len()
        );
        server.stop().await;
        drop_schema(&db).await;
    }
}

/// A payment notification answered 204 is applied for good: paid orders stay confirmed, with
/// their charge, after `kill -9` in the middle of a stream of notifications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_payment_notifications_survive_kill_9() {
    for db in databases("paykill") {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let fake = FakeWeChatPay::new(
            FakeWeChatPayKeys::generate().unwrap(),
            Arc::new(gatehouse_domain::SystemClock),
        )
        .unwrap();
        fake.set_delivery(Delivery::Silent);
        let provider = FakeServer::start(fake.router()).await.unwrap();
        fake.set_base_url(&provider.url(""));
        let env = gatehouse_bench::wechat_pay_env(fake.keys(), &provider.url(""));
        let admin = admin_token(dir.path(), &db).await;
        let mut server = Server::start_with(dir.path(), &db, &log, false, &env).await;
        let (s, p) = send(&server.addr, Method::POST, "/api/v1/admin/products", Some(&admin), Some(json!({"kind": "entry", "name": "paid", "rules": {"open_days_before": 30, "max_orders_per_account_per_day": 50}}))).await;
        assert_eq!(s, 201, "{p}");
        let product = p["id"].as_i64().unwrap();
        let (_, tt) = send(
            &server.addr,
            Method::POST,
            &format!("/api/v1/admin/products/{product}/ticket-types"),
            Some(&admin),
            Some(json!({"name": "adult", "price_fen": 6000})),
        )
        .await;
        send(
            &server.addr,
            Method::POST,
            &format!("/api/v1/admin/products/{product}/notices"),
            Some(&admin),
            Some(json!({"text": "n"})),
        )
        .await;
        let tomorrow = gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
            .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
            .date()
            .tomorrow()
            .unwrap();
        let (_, slot) = send(&server.addr, Method::POST, &format!("/api/v1/admin/products/{product}/slots"), Some(&admin), Some(json!({"date": tomorrow.to_string(), "start": "10:00", "end": "11:00", "capacity": 1000}))).await;
        let (slot, tt) = (slot["id"].as_i64().unwrap(), tt["id"].as_i64().unwrap());
        let token = visitor_token(&server.addr, &admin, "13711112222").await;
        let mut signed = Vec::new();
        for n in 0..50u32 {
            let (s, order) = send(
                &server.addr,
                Method::POST,
                "/api/v1/orders",
                Some(&token),
                Some(booking(
                    slot,
                    tt,
                    "游客",
                    &synthetic_resident_id(n),
                    "13800000000",
                )),
            )
            .await;
            assert_eq!(s, 201, "{order}");
            let id = order["id"].as_str().unwrap().to_owned();
            let (s, checkout) = send(
                &server.addr,
                Method::POST,
                &format!("/api/v1/orders/{id}/pay"),
                Some(&token),
                Some(json!({"channel": "wechat_jsapi", "payer": "o1"})),
            )
            .await;
            assert_eq!(s, 200, "{checkout}");
            let payment = checkout["payment"]["id"].as_str().unwrap().to_owned();
            fake.pay(&payment).await.unwrap();
            signed.push((id, fake.paid_notification(&payment, None).unwrap()));
        }
        let signed = Arc::new(signed);
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::new();
        for _ in 0..4 {
            let (addr, signed, acked, next) = (
                server.addr.clone(),
                signed.clone(),
                acked.clone(),
                next.clone(),
            );
            senders.push(tokio::spawn(async move {
                let Ok(mut c) = Conn::open(&addr).await else {
                    return;
                };
                loop {
                    let Some((order, n)) = signed.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    match c
                        .post_with_headers(
                            "/api/v1/payments/notify/wechat_pay",
                            n.content_type,
                            &n.headers,
                            n.body.clone(),
                        )
                        .await
                    {
                        Ok(r) if r.status == 204 => acked.lock().unwrap().push(order.clone()),
                        Ok(r) => panic!("notification refused: {} {}", r.status, r.code()),
                        Err(_) => return, // the server died under us
                    }
                }
            }));
        }
        while acked.lock().unwrap().len() < 10 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill9();
        for s in senders {
            s.await.unwrap();
        }
        let _ = server.child.wait().await;
        let acked = acked.lock().unwrap().clone();
        let server = Server::start_with(dir.path(), &db, &log, false, &env).await;
        for order in &acked {
            let (_, o) = send(
                &server.addr,
                Method::GET,
                &format!("/api/v1/orders/{order}"),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(
                o["state"],
                "confirmed",
                "acknowledged payment of {order} lost ({} acknowledged)",
                acked.len()
            );
            let (_, money) = send(
                &server.addr,
                Method::GET,
                &format!("/api/v1/orders/{order}/payments"),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(money["ledger"].as_array().unwrap().len(), 1, "{money}");
        }
        server.stop().await;
        drop_schema(&db).await;
    }
}

/// After bookings and reads, neither the database files nor the logs hold a visitor's name, ID
/// number or phone in clear.
#[tokio::test]
async fn no_plaintext_personal_data_in_the_database_or_the_logs() {
    for db in databases("plain") {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let admin = admin_token(dir.path(), &db).await;
        let server = Server::start(dir.path(), &db, &log, true).await;
        let (slot, tt) = rush_product(&server.addr, &admin, 10).await;
        let sign_in_phone = "13698765432";
        let token = &visitor_token(&server.addr, &admin, sign_in_phone).await;
        let (name, id_number, phone) =
            ("欧阳明月", synthetic_resident_id(4_242_424), "13912348765");
        // A frequent visitor too: sealed like a ticket's visitor.
        let (friend, friend_id) = ("司马相如", synthetic_resident_id(4_343_434));
        let (s, _) = send(
            &server.addr,
            Method::POST,
            "/api/v1/me/visitors",
            Some(token),
            Some(json!({"name": friend, "id_type": "resident_id", "id_number": friend_id, "phone": "13511112222"})),
        )
        .await;
        assert_eq!(s, 201);
        let (s, order) = send(
            &server.addr,
            Method::POST,
            "/api/v1/orders",
            Some(token),
            Some(booking(slot, tt, name, &id_number, phone)),
        )
        .await;
        assert_eq!(s, 201, "{order}");
        let text = order.to_string();
        assert!(
            !text.contains(name) && !text.contains(&id_number) && !text.contains(phone),
            "the answer is masked: {text}"
        );
        send(
            &server.addr,
            Method::GET,
            &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
            Some(token),
            None,
        )
        .await;
        send(
            &server.addr,
            Method::GET,
            "/api/v1/orders",
            Some(token),
            None,
        )
        .await;
        // A reveal gives the value to staff, and to nothing else: not the log, not the audit.
        let (s, revealed) = send(
            &server.addr,
            Method::POST,
            &format!(
                "/api/v1/admin/orders/{}/reveal",
                order["id"].as_str().unwrap()
            ),
            Some(&admin),
            Some(json!({"field": "contact_phone", "purpose": "calling the visitor back"})),
        )
        .await;
        assert_eq!(
            (s, revealed["value"].as_str()),
            (200, Some(phone)),
            "{revealed}"
        );
        // A refused booking with the same data is logged too.
        send(
            &server.addr,
            Method::POST,
            "/api/v1/orders",
            Some(token),
            Some(booking(slot, tt, name, &id_number, phone)),
        )
        .await;
        server.stop().await;

        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.retain(|p| p.file_name().is_some_and(|n| n != "keys"));
        assert!(files.iter().any(|p| p.ends_with("server.log")));
        if matches!(db, Db::Sqlite) {
            assert!(files.iter().any(|p| p.ends_with("gatehouse.db")));
        }
        let log_text = std::fs::read_to_string(&log).unwrap();
        assert!(
            log_text.contains("request"),
            "the log has request lines to check"
        );
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            for needle in [
                name.as_bytes(),
                id_number.as_bytes(),
                phone.as_bytes(),
                sign_in_phone.as_bytes(),
                friend.as_bytes(),
                friend_id.as_bytes(),
                b"13511112222".as_slice(),
            ] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds {} in clear",
                    file.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
        if let Db::Postgres { url, schema } = &db {
            // Scan every text column of the schema's tables through the database itself.
            let out = std::process::Command::new("pg_dump")
                .args([url.as_str(), "--schema", schema.as_str(), "--data-only"])
                .output();
            if let Some(out) = out.ok().filter(|o| o.status.success()) {
                for needle in [
                    name.as_bytes(),
                    id_number.as_bytes(),
                    phone.as_bytes(),
                    sign_in_phone.as_bytes(),
                    friend.as_bytes(),
                    friend_id.as_bytes(),
                    b"13511112222".as_slice(),
                ] {
                    assert!(
                        !out.stdout.windows(needle.len()).any(|w| w == needle),
                        "PostgreSQL holds a value in clear"
                    );
                }
            }
        }
        drop_schema(&db).await;
    }
}

/// The codebase checks itself: every Rust file says what lives in it, and no log statement names
/// a personal field (those are logged masked or not at all).
mod tidy {
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn workspace_files() -> Vec<PathBuf> {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut files = Vec::new();
        rust_files(crates, &mut files);
        files.retain(|p| !p.components().any(|c| c.as_os_str() == "target"));
        assert!(files.len() > 20, "found the sources");
        files
    }

    #[test]
    fn every_file_opens_with_a_module_comment() {
        let missing: Vec<String> = workspace_files()
            .into_iter()
            .filter(|p| {
                !std::fs::read_to_string(p)
                    .unwrap()
                    .trim_start()
                    .starts_with("//!")
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "files without a //! comment: {missing:?}"
        );
    }

    // Personal data in logs: the catalogue-driven tidy test in `crates/domain/tests/tidy.rs`.
}

/// Metering is exact across `kill -9`: every call answered before the kill is in the usage after
/// the restart, and nothing is counted twice (the meter file is the record; no disk write per
/// call).
#[tokio::test]
async fn metered_calls_survive_kill_9() {
    for db in databases("meter") {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let admin = admin_token(dir.path(), &db).await;
        let mut server = Server::start(dir.path(), &db, &log, true).await;
        let usage = |addr: String| {
            let admin = admin.clone();
            async move {
                let (s, u) = send(
                    &addr,
                    Method::GET,
                    "/api/v1/admin/traffic/usage",
                    Some(&admin),
                    None,
                )
                .await;
                assert_eq!(s, 200, "{u}");
                u["calls"].as_u64().unwrap()
            }
        };
        let before = usage(server.addr.clone()).await;
        let mut c = Conn::open(&server.addr).await.unwrap();
        let mut answered = 0u64;
        for _ in 0..500 {
            let r = c
                .send(Method::GET, "/api/v1/products", None, None)
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            answered += 1;
        }
        // Killed right after the last answer: the database has not been told about most of them.
        server.kill9();
        let _ = server.child.wait().await;
        let server = Server::start(dir.path(), &db, &log, false).await;
        let after = usage(server.addr.clone()).await;
        assert_eq!(
            after,
            before + answered + 1,
            "every answered call, and this one, counted once"
        );
        server.stop().await;
        drop_schema(&db).await;
    }
}
