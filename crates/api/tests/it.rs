//! API tests through the real router, in process (`tower::ServiceExt::oneshot`): the booking flow,
//! the error format for bad input (and that bad input changes nothing), auth, limits, and the
//! OpenAPI document kept in sync with a committed snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use gatehouse_api::{router, AppState};
use gatehouse_booking::{BookingConfig, BookingService};
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::SignInMethod;
use gatehouse_domain::identity::synthetic_resident_id;
use gatehouse_domain::ManualClock;
use gatehouse_identity::{IdentityConfig, IdentityService, LocalSms};
use gatehouse_privacy::Vault;
use gatehouse_store::{SqliteDurability, SqliteStore};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

#[path = "it/access.rs"]
mod access;
#[path = "it/breach.rs"]
mod breach;
#[path = "it/challenge.rs"]
mod challenge;
#[path = "it/cleaning.rs"]
mod cleaning;
#[path = "it/edge.rs"]
mod edge;
#[path = "it/face.rs"]
mod face;
#[path = "it/firewall.rs"]
mod firewall;
#[path = "it/gates.rs"]
mod gates;
#[path = "it/groups.rs"]
mod groups;
#[path = "it/identity.rs"]
mod identity;
#[path = "it/lists.rs"]
mod lists;
#[path = "it/metering.rs"]
mod metering;
#[path = "it/payments.rs"]
mod payments;
#[path = "it/privacy.rs"]
mod privacy;
#[path = "it/releases.rs"]
mod releases;
#[path = "it/risk.rs"]
mod risk;
#[path = "it/seats.rs"]
mod seats;
#[path = "it/shared.rs"]
mod shared;
#[path = "it/shared_queue.rs"]
mod shared_queue;
#[path = "it/sso.rs"]
mod sso;
#[path = "it/subjects.rs"]
mod subjects;
#[path = "it/tickets.rs"]
mod tickets;

/// The ticket-signing secret of the test harness.
const TICKET_SECRET: [u8; 32] = [7; 32];

struct Api {
    app: Router,
    /// What the router serves, for housekeeping the server runs outside requests.
    state: AppState,
    clock: Arc<ManualClock>,
    identity: Arc<IdentityService>,
    /// Where the edge keeps its lists and writes security events.
    traffic: Arc<dyn gatehouse_domain::traffic::TrafficStore>,
    releases: Arc<dyn gatehouse_domain::waiting::ProtectedReleaseStore>,
    /// The local WeChat Pay the payment routes talk to (notifications are not sent: tests post
    /// them through the router).
    wechat: gatehouse_providers::wechatpay_fake::FakeWeChatPay,
    _wechat_server: gatehouse_providers::FakeServer,
    admin: String,
    visitor: String,
    /// A second visitor (another person's account).
    other: String,
    slot: i64,
    product: i64,
    ticket_type: i64,
    _dir: tempfile::TempDir,
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let raw = body.map(|b| b.to_string());
    call_raw(app, method, uri, token, raw.as_deref(), &[]).await
}

/// The security events of `kind` in an answer of `GET /api/v1/admin/security-events`.
fn events_of(events: &Value, kind: &str) -> Vec<Value> {
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

async fn call_raw(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(
            req.body(Body::from(body.unwrap_or_default().to_owned()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, value)
}

/// A fresh API on SQLite, at Monday 2026-11-23 09:00 Shanghai, with one product and a Wednesday slot.
async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("g.db"), SqliteDurability::Normal)
            .await
            .unwrap(),
    );
    let clock = Arc::new(ManualClock::new("2026-11-23T01:00:00Z".parse().unwrap()));
    let keys = Arc::new(Vault::ephemeral(store.clone(), clock.clone()));
    let identity = IdentityService::start(
        store.clone(),
        keys.clone(),
        clock.clone(),
        Arc::new(LocalSms::default()),
        gatehouse_audit::AuditLog::start(
            store.clone(),
            Arc::new(gatehouse_audit::CheckpointSigner::from_seed(&[7; 32])),
            clock.clone(),
            gatehouse_audit::AppendSettings::default(),
        ),
        IdentityConfig {
            breach_emails: vec![
                "dpo@museum.example".into(),
                "report@authority.example".into(),
            ],
            ..IdentityConfig::default()
        },
    );
    let service =
        BookingService::start(store.clone(), keys, clock.clone(), BookingConfig::default())
            .await
            .unwrap();
    let codes = gatehouse_tickets::TicketCodes::from_secret(
        1,
        TICKET_SECRET,
        jiff::SignedDuration::from_mins(30),
        jiff::SignedDuration::ZERO,
    )
    .unwrap();
    let gates = Arc::new(
        gatehouse_gates::GateService::start(
            store.clone(),
            store.clone(),
            clock.clone(),
            // One no-show locks here, so one test booking shows the rule at work.
            gatehouse_gates::GateConfig {
                no_show: gatehouse_domain::no_show::NoShowRule {
                    threshold: 1,
                    ..Default::default()
                },
                ..Default::default()
            },
            vec![codes.public_key()],
        )
        .unwrap(),
    );
    service.set_code_issuer(Arc::new(codes));
    let wechat = gatehouse_providers::wechatpay_fake::FakeWeChatPay::new(
        gatehouse_providers::wechatpay_fake::FakeWeChatPayKeys::generate().unwrap(),
        clock.clone(),
    )
    .unwrap();
    wechat.set_delivery(gatehouse_providers::courier::Delivery::Silent);
    let wechat_server = gatehouse_providers::FakeServer::start(wechat.router())
        .await
        .unwrap();
    wechat.set_base_url(&wechat_server.url(""));
    let gateway = gatehouse_providers::wechatpay::WeChatPayClient::new(
        &wechat
            .keys()
            .client_config(&wechat_server.url(""), "http://127.0.0.1:9/notify"),
        clock.clone(),
    )
    .unwrap();
    let payments = gatehouse_payments::PaymentService::new(
        service.clone(),
        store.clone(),
        vec![Arc::new(gateway)],
        gatehouse_payments::PaymentConfig::default(),
    );
    let admin = session(&identity, "staff", &[Role::Administrator]).await;
    let visitor = session(&identity, "visitor", &[Role::Visitor]).await;
    let other = session(&identity, "other", &[Role::Visitor]).await;
    let groups = Arc::new(gatehouse_groups::GroupService::new(
        store.clone(),
        clock.clone(),
        true,
    ));
    let queue = Arc::new(
        gatehouse_queue::WaitingRoomService::load(
            gatehouse_queue::WaitingRoom::new(
                gatehouse_queue::TokenKey::new([7; 32]),
                gatehouse_queue::RateSettings::default(),
            ),
            store.clone(),
            clock.clone(),
            jiff::civil::date(2026, 1, 1),
        )
        .await
        .unwrap(),
    );
    let risk = gatehouse_risk_service::RiskService::start(
        store.clone(),
        store.clone(),
        clock.clone(),
        [5; 32],
        gatehouse_risk_service::RiskSettings::default(),
    )
    .await
    .unwrap();
    let state = AppState::new(gatehouse_api::Services {
        service,
        identity: identity.clone(),
        payments,
        gates,
        groups,
        queue,
        risk,
        // No limits: these tests are about the routes; `edge.rs` tests the protection.
        edge: gatehouse_edge::Edge::with_store(
            gatehouse_shield::Policy::open(),
            store.clone(),
            clock.clone(),
        ),
    });
    let app = router(state.clone());
    let (s, p) = call(
        &app,
        "POST",
        "/api/v1/admin/products",
        Some(&admin),
        Some(json!({"kind": "entry", "name": "入馆", "introduction": "hello"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let product = p["id"].as_i64().unwrap();
    let (_, tt) = call(
        &app,
        "POST",
        &format!("/api/v1/admin/products/{product}/ticket-types"),
        Some(&admin),
        Some(json!({"name": "individual", "price_fen": 0})),
    )
    .await;
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/v1/admin/products/{product}/notices"),
        Some(&admin),
        Some(json!({"text": "notice v1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, slot) = call(
        &app,
        "POST",
        &format!("/api/v1/admin/products/{product}/slots"),
        Some(&admin),
        Some(json!({"date": "2026-11-25", "start": "09:00", "end": "10:30", "capacity": 3})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{slot}");
    Api {
        app,
        state,
        clock,
        identity,
        releases: store.clone(),
        traffic: store,
        wechat,
        _wechat_server: wechat_server,
        admin,
        visitor,
        other,
        slot: slot["id"].as_i64().unwrap(),
        product,
        ticket_type: tt["id"].as_i64().unwrap(),
        _dir: dir,
    }
}

/// A new account with `roles` and a session token for it.
async fn session(identity: &IdentityService, name: &str, roles: &[Role]) -> String {
    let account = identity
        .create_account(name, Roles::of(roles))
        .await
        .unwrap();
    identity
        .issue_session(account, SignInMethod::Console)
        .await
        .unwrap()
        .access_token
}

impl Api {
    /// Books one ticket for the holder of `token`, visitor `id_number`: the created order.
    async fn book(&self, token: &str, id_number: &str) -> Value {
        let (s, order) = call(
            &self.app,
            "POST",
            "/api/v1/orders",
            Some(token),
            Some(self.booking(id_number)),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{order}");
        order
    }

    fn booking(&self, id_number: &str) -> Value {
        json!({"slot_id": self.slot, "notice_version": 1, "contact_phone": "13812345678",
               "tickets": [{"ticket_type_id": self.ticket_type, "visitor": {"name": "张三", "id_type": "resident_id", "id_number": id_number}}]})
    }

    async fn remaining_of(&self, slot: i64) -> i64 {
        call(
            &self.app,
            "GET",
            &format!("/api/v1/slots/{slot}"),
            None,
            None,
        )
        .await
        .1["remaining"]
            .as_i64()
            .unwrap()
    }

    async fn remaining(&self) -> i64 {
        call(
            &self.app,
            "GET",
            &format!("/api/v1/slots/{}", self.slot),
            None,
            None,
        )
        .await
        .1["remaining"]
            .as_i64()
            .unwrap()
    }
}

#[tokio::test]
async fn a_visitor_books_reads_lists_and_refunds() {
    let a = api().await;
    let (s, products) = call(&a.app, "GET", "/api/v1/products", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(products["products"][0]["rules"]["open_at"], "09:00");
    let (_, details) = call(
        &a.app,
        "GET",
        &format!("/api/v1/products/{}", a.product),
        None,
        None,
    )
    .await;
    assert_eq!(details["notice"]["version"], 1);
    let (_, slots) = call(
        &a.app,
        "GET",
        &format!(
            "/api/v1/products/{}/slots?from=2026-11-25&to=2026-11-25",
            a.product
        ),
        None,
        None,
    )
    .await;
    assert_eq!(slots["slots"][0]["status"], "open");

    let (s, order) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    assert_eq!(order["state"], "confirmed");
    assert_eq!(order["contact_phone"], "138****5678");
    assert_eq!(
        order["tickets"][0]["visitor"]["id_number"],
        "110105********002X"
    );
    assert_eq!(order["tickets"][0]["visitor"]["name"], "张*");
    let id = order["id"].as_str().unwrap();
    let (s, got) = call(
        &a.app,
        "GET",
        &format!("/api/v1/orders/{id}"),
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!((s, &got["id"]), (StatusCode::OK, &order["id"]));
    let (_, list) = call(
        &a.app,
        "GET",
        "/api/v1/orders?kind=entry",
        Some(&a.visitor),
        None,
    )
    .await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    let (_, none) = call(
        &a.app,
        "GET",
        "/api/v1/orders?kind=cinema",
        Some(&a.visitor),
        None,
    )
    .await;
    assert!(none["orders"].as_array().unwrap().is_empty());
    assert_eq!(a.remaining().await, 2);

    let ticket = order["tickets"][0]["id"].as_str().unwrap();
    let (s, refunded) = call(
        &a.app,
        "POST",
        &format!("/api/v1/orders/{id}/refund"),
        Some(&a.visitor),
        Some(json!({"ticket_ids": [ticket]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["state"], "refunded");
    assert_eq!(refunded["history"].as_array().unwrap().len(), 2);
    assert_eq!(a.remaining().await, 3);
}

#[tokio::test]
async fn domain_refusals_have_stable_codes_and_fields() {
    let a = api().await;
    a.clock.set("2026-11-23T00:59:59.9Z".parse().unwrap());
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("window_closed"))
    );
    assert_eq!(e["opens_at"], "2026-11-23T01:00:00Z");
    a.clock.set("2026-11-23T01:00:00Z".parse().unwrap());
    call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["field"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("id_limit_reached"),
            Some("tickets[0].visitor.id_number")
        )
    );
    let mut stale = a.booking(&synthetic_resident_id(1));
    stale["notice_version"] = json!(0);
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(stale),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("notice_outdated"))
    );
    // Sold out after capacity 3.
    for n in 2..4 {
        let (s, _) = call(
            &a.app,
            "POST",
            "/api/v1/orders",
            Some(&a.visitor),
            Some(a.booking(&synthetic_resident_id(n))),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.other),
        Some(a.booking(&synthetic_resident_id(9))),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["remaining"].as_i64()),
        (StatusCode::CONFLICT, Some("sold_out"), Some(0))
    );
    // Locked accounts are told until when.
    let (_, me) = call(&a.app, "GET", "/api/v1/me", Some(&a.visitor), None).await;
    let (s, _) = call(
        &a.app,
        "PUT",
        &format!("/api/v1/admin/accounts/{}/lock", me["account"]["id"]),
        Some(&a.admin),
        Some(json!({"until": "2026-12-23T00:00:00Z"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking(&synthetic_resident_id(10))),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str(), e["until"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("account_locked"),
            Some("2026-12-23T00:00:00Z")
        )
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let a = api().await;
    let v = Some(a.visitor.as_str());
    let good = a.booking("11010519491231002X");
    let with = |path: &str, value: Value| {
        let mut b = good.clone();
        let mut cursor = &mut b;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            let next = if let Ok(n) = p.parse::<usize>() {
                &mut cursor[n]
            } else {
                &mut cursor[*p]
            };
            if i + 1 == parts.len() {
                *next = value.clone();
                break;
            }
            cursor = next;
        }
        b.to_string()
    };
    let huge = "9".repeat(40);
    let cases: Vec<(String, StatusCode, &str, Option<&str>)> = vec![
        (
            "{\"slot_id\": ".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            "not json".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            with("slot_id", json!("one")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("slot_id"),
        ),
        (
            with("slot_id", json!(1)).replace("\"slot_id\":1", &format!("\"slot_id\":{huge}")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("slot_id"),
        ),
        (
            with("surprise", json!(1)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("surprise"),
        ),
        (
            good.to_string().replace(
                "\"notice_version\":1",
                &format!("\"notice_version\":{huge}"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("notice_version"),
        ),
        (
            with("notice_version", json!(-1)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("notice_version"),
        ),
        (
            with("tickets.0.ticket_type_id", json!(1.5)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets[0].ticket_type_id"),
        ),
        (
            with("tickets.0.visitor.id_type", json!("driving_licence")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets[0].visitor.id_type"),
        ),
        (
            with("tickets.0.visitor.id_number", json!("11010519491231002３")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets[0].visitor.id_number"),
        ),
        (
            with("tickets.0.visitor.id_number", json!("110105194912310021")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets[0].visitor.id_number"),
        ),
        (
            with("tickets.0.visitor.name", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets[0].visitor.name"),
        ),
        (
            with("tickets.0.visitor.extra", json!(1)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets[0].visitor.extra"),
        ),
        (
            with("contact_phone", json!("12345")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("contact_phone"),
        ),
        (
            with("tickets", json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets"),
        ),
        (
            with("tickets", json!(vec![good["tickets"][0].clone(); 6])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_visitors",
            Some("tickets"),
        ),
        (
            with("slot_id", json!(999_999)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("slot_id"),
        ),
        (
            with("tickets.0.ticket_type_id", json!(999_999)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("tickets[0].ticket_type_id"),
        ),
        (
            format!("{}{}", "[".repeat(100), "]".repeat(100)),
            StatusCode::BAD_REQUEST,
            "json_too_deep",
            None,
        ),
        (
            format!("{{\"slot_id\": \"{}\"}}", "x".repeat(70_000)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let (s, e) = call_raw(&a.app, "POST", "/api/v1/orders", v, Some(&body), &[]).await;
        assert_eq!(
            (s, e["code"].as_str(), e["field"].as_str()),
            (status, Some(code), field),
            "body {}: {e}",
            &body[..body.len().min(120)]
        );
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Not JSON, no token, a visitor on a staff route, a bad path, oversized headers.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/orders")
        .header("authorization", format!("Bearer {}", a.visitor))
        .body(Body::from(good.to_string()))
        .unwrap();
    assert_eq!(
        a.app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let (s, _) = call(&a.app, "POST", "/api/v1/orders", None, Some(good.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some("gh_forged"),
        Some(good.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/admin/products",
        v,
        Some(json!({"kind": "entry", "name": "x"})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (s, e) = call(&a.app, "GET", "/api/v1/slots/not-a-number", None, None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, e) = call(&a.app, "GET", "/api/v1/nowhere", None, None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let big = "a".repeat(20_000);
    let (s, _) = call_raw(
        &a.app,
        "GET",
        "/api/v1/products",
        None,
        None,
        &[("x-big", &big)],
    )
    .await;
    assert_eq!(s, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let (s, e) = call_raw(
        &a.app,
        "POST",
        "/api/v1/orders",
        v,
        Some(&good.to_string()),
        &[("idempotency-key", "has space")],
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key"))
    );
    let (s, e) = call(
        &a.app,
        "GET",
        &format!("/api/v1/products/{}/slots?from=yesterday", a.product),
        None,
        None,
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );

    // Nothing changed.
    assert_eq!(a.remaining().await, 3);
    let (_, list) = call(&a.app, "GET", "/api/v1/orders", v, None).await;
    assert!(list["orders"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn idempotency_key_makes_retries_safe() {
    let a = api().await;
    let body = a.booking("11010519491231002X").to_string();
    let key = [("idempotency-key", "retry-1")];
    let (s1, first) = call_raw(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(&body),
        &key,
    )
    .await;
    let (s2, second) = call_raw(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(&body),
        &key,
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(a.remaining().await, 2);
    let other = a.booking(&synthetic_resident_id(5)).to_string();
    let (s, e) = call_raw(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(&other),
        &key,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
}

#[tokio::test]
async fn staff_manage_the_catalogue() {
    let a = api().await;
    let admin = Some(a.admin.as_str());
    let (s, e) = call(
        &a.app,
        "POST",
        "/api/v1/admin/products",
        admin,
        Some(json!({"kind": "cinema", "name": "film"})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("film"))
    );
    let (s, p) = call(&a.app, "POST", "/api/v1/admin/products", admin,
        Some(json!({"kind": "cinema", "name": "宇宙", "theatre_type": "dome", "film": "宇宙之旅", "rules": {"open_days_before": 7, "open_at": "08:30"}}))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["rules"]["open_at"], "08:30");
    let id = p["id"].as_i64().unwrap();
    let (s, e) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{id}/slots"),
        admin,
        Some(json!({"date": "2026-11-25", "start": "10:00", "end": "09:00", "capacity": 5})),
    )
    .await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("end"))
    );
    let (s, slot) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{id}/slots"),
        admin,
        Some(json!({"date": "2026-11-25", "start": "10:00", "end": "10:45", "capacity": 5})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, dup) = call(
        &a.app,
        "POST",
        &format!("/api/v1/admin/products/{id}/slots"),
        admin,
        Some(json!({"date": "2026-11-25", "start": "10:00", "end": "10:45", "capacity": 5})),
    )
    .await;
    assert_eq!(
        (s, dup["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("start"))
    );
    let slot_id = slot["id"].as_i64().unwrap();
    let (s, changed) = call(
        &a.app,
        "PATCH",
        &format!("/api/v1/admin/slots/{slot_id}"),
        admin,
        Some(json!({"capacity": 9})),
    )
    .await;
    assert_eq!(
        (s, changed["remaining"].as_i64()),
        (StatusCode::OK, Some(9))
    );
    let (s, _) = call(
        &a.app,
        "DELETE",
        &format!("/api/v1/admin/slots/{slot_id}"),
        admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &a.app,
        "DELETE",
        &format!("/api/v1/admin/products/{id}"),
        admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // A product with orders cannot go.
    call(
        &a.app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(a.booking("11010519491231002X")),
    )
    .await;
    let (s, e) = call(
        &a.app,
        "DELETE",
        &format!("/api/v1/admin/products/{}", a.product),
        admin,
        None,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("in_use"))
    );
    let (s, tt) = call(
        &a.app,
        "PUT",
        &format!("/api/v1/admin/ticket-types/{}", a.ticket_type),
        admin,
        Some(json!({"name": "guided", "price_fen": 2500})),
    )
    .await;
    assert_eq!((s, tt["price_fen"].as_i64()), (StatusCode::OK, Some(2500)));
    let (s, e) = call(
        &a.app,
        "PUT",
        "/api/v1/admin/ticket-types/999999",
        admin,
        Some(json!({"name": "x", "price_fen": 1})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

/// The served document is the committed snapshot: an API change shows up in review as a diff of
/// `crates/api/openapi.json`. Regenerate with `UPDATE_OPENAPI=1 cargo test -p gatehouse-api`.
#[tokio::test]
async fn openapi_document_matches_the_snapshot() {
    let a = api().await;
    let (s, served) = call(&a.app, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served,
        serde_json::to_value(gatehouse_api::openapi()).unwrap()
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .expect("crates/api/openapi.json is missing: run with UPDATE_OPENAPI=1");
    assert!(
        committed == pretty,
        "the OpenAPI document changed: review it and run with UPDATE_OPENAPI=1"
    );
    // Every request body field that is not optional is marked required.
    let visitor = &served["components"]["schemas"]["VisitorRequest"]["required"];
    assert_eq!(visitor, &json!(["name", "id_type", "id_number"]));
    let frequent = &served["components"]["schemas"]["FrequentVisitorRequest"]["required"];
    assert_eq!(
        frequent,
        &json!(["name", "id_type", "id_number"]),
        "phone is optional"
    );
    for path in [
        "/api/v1/orders",
        "/api/v1/orders/{id}/refund",
        "/api/v1/admin/products",
        "/api/v1/products/{id}/slots",
    ] {
        assert!(
            served["paths"].get(path).is_some(),
            "{path} missing from the document"
        );
    }
}
