//! Metering through the router: every call the protection handles is counted by what it came
//! to (never `/health`), usage adds up every node and is shown against the quota, and the
//! policy decides what happens once the quota is used up.

use super::edge::from;
use super::*;
use gatehouse_domain::Clock;
use gatehouse_edge::Edge;
use gatehouse_shield::Policy;

fn metered(a: &Api, policy: &str, meter: &std::path::Path) -> (Router, Arc<Edge>) {
    let mut state = a.state.clone();
    let edge = Edge::with_store(
        Policy::from_toml(policy).unwrap(),
        a.traffic.clone(),
        a.clock.clone(),
    );
    edge.attach_meter(Arc::new(gatehouse_meter::CallMeter::open(meter).unwrap()));
    state.edge = edge.clone();
    (router(state), edge)
}

const QUOTA: &str = r#"
version = 1
[metering]
quota = 12
on_exhaustion = "refuse"
[[limit]]
name = "orders per address"
route = "POST /api/v1/orders"
key = "ip"
burst = 2
per_secs = 60
"#;

#[tokio::test]
async fn every_call_is_counted_and_the_quota_decides_what_happens_when_used_up() {
    let a = api().await;
    let dir = tempfile::tempdir().unwrap();
    let (app, edge) = metered(&a, QUOTA, &dir.path().join("meter"));
    for _ in 0..3 {
        from(
            &app,
            "198.51.100.7",
            "POST",
            "/api/v1/orders",
            None,
            "{}",
            &[],
        )
        .await;
    }
    for _ in 0..5 {
        let (s, _, _) = from(&app, "198.51.100.7", "GET", "/health", None, "", &[]).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, u) = call(
        &app,
        "GET",
        "/api/v1/admin/traffic/usage",
        Some(&a.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        u,
        json!({"calls": 4, "passed": 3, "refused": 1, "challenged": 0, "blocked": 0,
               "quota": 12, "remaining": 8, "exhausted": false, "on_exhaustion": "refuse"}),
        "two orders tried, one over the limit, this call; never /health"
    );
    // Another node's counters add up.
    a.traffic
        .save_usage(
            "another-node",
            &gatehouse_domain::traffic::Usage {
                passed: 7,
                ..Default::default()
            },
            a.clock.now(),
        )
        .await
        .unwrap();
    let report = edge.fold_usage().await.unwrap();
    assert_eq!((report.used.calls(), report.exhausted), (11, false));
    from(
        &app,
        "198.51.100.8",
        "GET",
        "/api/v1/products",
        None,
        "",
        &[],
    )
    .await;
    let report = edge.fold_usage().await.unwrap();
    assert_eq!(
        (report.used.calls(), report.exhausted, report.remaining()),
        (12, true, Some(0))
    );
    // Used up, and the policy says refuse: everything gets 503 quota_exhausted.
    let (s, _, e) = from(
        &app,
        "198.51.100.8",
        "GET",
        "/api/v1/products",
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("quota_exhausted"))
    );
    let (_, events) = call(
        &a.app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.admin),
        None,
    )
    .await;
    assert!(
        events.to_string().contains("traffic_quota_exhausted"),
        "{events}"
    );
}

#[tokio::test]
async fn with_pass_on_exhaustion_requests_go_through_unexamined() {
    let a = api().await;
    let dir = tempfile::tempdir().unwrap();
    let policy = QUOTA
        .replace("quota = 12", "quota = 1")
        .replace("\"refuse\"", "\"pass\"");
    let (app, edge) = metered(&a, &policy, &dir.path().join("meter"));
    from(
        &app,
        "198.51.100.7",
        "GET",
        "/api/v1/products",
        None,
        "",
        &[],
    )
    .await;
    assert!(edge.fold_usage().await.unwrap().exhausted);
    for _ in 0..5 {
        let (s, _, _) = from(
            &app,
            "198.51.100.7",
            "POST",
            "/api/v1/orders",
            None,
            "{}",
            &[],
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "no limit applies any more");
    }
    assert_eq!(
        edge.fold_usage().await.unwrap().used.calls(),
        6,
        "still counted"
    );
}
