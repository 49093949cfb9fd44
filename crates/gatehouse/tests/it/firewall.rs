//! The web application firewall in the real server (the binary on a random port, the OWASP CRS
//! configured with `GATEHOUSE_WAF__…`): a booking with real names goes through, attacks get 403
//! `request_blocked` over the wire, and the audit log file holds the verdicts as JSON lines with
//! personal data masked.

use super::*;

#[tokio::test]
async fn the_firewall_guards_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let files = gatehouse_waf::firewall::RuleFiles::beside_checkout(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
    );
    let audit = dir.path().join("waf-audit.jsonl");
    let env = [
        (
            "GATEHOUSE_WAF__CRS_DIR".to_owned(),
            files.crs.display().to_string(),
        ),
        (
            "GATEHOUSE_WAF__LIBINJECTION_DIR".to_owned(),
            files.libinjection.display().to_string(),
        ),
        (
            "GATEHOUSE_WAF__AUDIT_LOG".to_owned(),
            audit.display().to_string(),
        ),
    ];
    let server = Server::start_with(
        dir.path(),
        &Db::Sqlite,
        &dir.path().join("log"),
        false,
        &env,
    )
    .await;
    let admin = admin_token(dir.path(), &Db::Sqlite).await;
    let visitor = visitor_token(&server.addr, &admin, "13912345678").await;
    let (slot, tt) = rush_product(&server.addr, &admin, 10).await;
    let id = gatehouse_domain::identity::synthetic_resident_id(11);
    let (s, order) = send(
        &server.addr,
        Method::POST,
        "/api/v1/orders",
        Some(&visitor),
        Some(booking(slot, tt, "Ngũgĩ wa Thiong'o", &id, "13912345678")),
    )
    .await;
    assert_eq!(s, 201, "{order}");
    let (s, body) = send(
        &server.addr,
        Method::GET,
        "/api/v1/products?id=1%20UNION%20SELECT%20secret%20FROM%20keys--",
        None,
        None,
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["code"], "request_blocked");
    let id2 = gatehouse_domain::identity::synthetic_resident_id(12);
    let (s, body) = send(
        &server.addr,
        Method::POST,
        "/api/v1/orders",
        Some(&visitor),
        Some(booking(
            slot,
            tt,
            "<script>alert(document.cookie)</script>",
            &id2,
            "13912345678",
        )),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    server.stop().await;
    let text = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(body["field"], "tickets[0].visitor.name", "{text}");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.iter().filter(|r| r["action"] == "blocked").count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains("document.cookie"),
        "the name is masked: {text}"
    );
    assert!(text.contains("\"client\":\"127.0.0.1\""), "{text}");
}
