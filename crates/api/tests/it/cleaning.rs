//! DDoS cleaning through the router: traffic over a threshold engages cleaning (a security
//! event with the figures), every client without a pass is challenged, the heaviest client is
//! blocked by an entry that ends by itself, and when traffic stays calm cleaning ends with a
//! security event giving the peaks; legitimate clients get through again.

use super::challenge::send;
use super::edge::protected;
use super::*;
use std::time::Duration;

const CLEANING: &str = r#"
version = 1
[cleaning]
max_requests_per_sec = 20
engage_secs = 1
release_secs = 2
block_top = 1
offender_requests_per_sec = 10
block_secs = 600
[[challenge]]
name = "cleaning"
route = "/api/*"
when = "cleaning"
"#;

#[tokio::test]
async fn a_flood_engages_cleaning_blocks_the_flooder_and_lets_people_through() {
    let a = api().await;
    let (app, edge) = protected(&a, CLEANING);
    let flooder = "198.51.100.66";
    let browse = |peer: &'static str| {
        let app = app.clone();
        async move { send(&app, peer, "GET", "/api/v1/products", &[], "").await.0 }
    };
    for _ in 0..30 {
        assert_eq!(browse(flooder).await, StatusCode::OK);
    }
    for _ in 0..5 {
        assert_eq!(browse("192.0.2.10").await, StatusCode::OK);
    }
    let engaged = edge.tick_cleaning(Duration::from_secs(1), None).await;
    assert!(
        matches!(engaged, Some(gatehouse_shield::Transition::Engaged { .. })),
        "{engaged:?}"
    );

    // Cleaning: every client without a pass is challenged…
    let (s, _, e) = send(&app, "192.0.2.10", "GET", "/api/v1/products", &[], "").await;
    assert_eq!(
        (s, e["challenge"]["sale"].as_str()),
        (StatusCode::FORBIDDEN, Some("cleaning"))
    );
    // …and the heaviest client is blocked at the next tick.
    for _ in 0..25 {
        browse(flooder).await;
    }
    edge.tick_cleaning(Duration::from_secs(1), None).await;
    let (s, _, e) = send(&app, flooder, "GET", "/api/v1/products", &[], "").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("blocked")),
        "{e}"
    );
    // Staff read it through an unchallenged router on the same database.
    let (_, list) = call(
        &a.app,
        "GET",
        "/api/v1/admin/traffic/lists",
        Some(&a.admin),
        None,
    )
    .await;
    let entry = &list["entries"][0];
    assert_eq!(entry["value"], "198.51.100.66/32");
    assert_eq!(entry["added_by"], Value::Null);
    assert!(
        entry["expires_at"].is_string()
            && entry["reason"].as_str().unwrap().contains("top offender")
    );
    // A person with a pass still gets through.
    let (_, _, e) = send(&app, "192.0.2.10", "GET", "/api/v1/products", &[], "").await;
    let challenge = e["challenge"].clone();
    let token = challenge["token"].as_str().unwrap();
    let bits = u32::try_from(challenge["difficulty"].as_u64().unwrap()).unwrap();
    let counter = (0..)
        .find(|c| {
            gatehouse_shield::leading_zero_bits(&gatehouse_shield::work_hash(
                gatehouse_shield::Work::Sha256,
                token,
                *c,
            )) >= bits
        })
        .unwrap();
    let body = json!({"token": token, "sale": "cleaning", "counter": counter}).to_string();
    let (s, _, p) = send(
        &app,
        "192.0.2.10",
        "POST",
        "/.gatehouse/challenge",
        &[],
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let pass = p["pass"].as_str().unwrap();
    let (s, _, _) = send(
        &app,
        "192.0.2.10",
        "GET",
        "/api/v1/products",
        &[("x-gatehouse-pass", pass)],
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Calm for release_secs: cleaning ends, with its peaks on record.
    assert_eq!(edge.tick_cleaning(Duration::from_secs(1), None).await, None);
    let released = edge.tick_cleaning(Duration::from_secs(1), None).await;
    assert!(
        matches!(released, Some(gatehouse_shield::Transition::Released(_))),
        "{released:?}"
    );
    assert_eq!(
        browse("192.0.2.10").await,
        StatusCode::OK,
        "no pass needed once it ended"
    );
    assert_eq!(
        browse(flooder).await,
        StatusCode::FORBIDDEN,
        "the block lasts its own time"
    );
    let (_, events) = call(
        &a.app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.admin),
        None,
    )
    .await;
    let events = events["events"].as_array().unwrap();
    let detail = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .map(|e| e["detail"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
    };
    assert!(
        detail("ddos_cleaning_started").starts_with("over requests/s: 35 requests/s"),
        "{}",
        detail("ddos_cleaning_started")
    );
    let ended = detail("ddos_cleaning_ended");
    assert!(
        ended.contains("peaks 35 requests/s") && ended.contains("1 clients blocked"),
        "{ended}"
    );
}
