//! Traffic protection in front of the routes: a client over a limit gets 429 with
//! `Retry-After` before any route, parser or booking logic runs; the client is its address, or
//! the one a trusted proxy forwarded; the policy reloads from its file only when valid and newer.

use super::*;
use axum::extract::ConnectInfo;
use gatehouse_edge::Edge;
use gatehouse_shield::Policy;

pub(crate) const POLICY: &str = r#"
version = 1
[client_ip]
trusted_proxies = ["10.0.0.0/8"]
[[limit]]
name = "orders per address"
route = "POST /api/v1/orders"
key = "ip"
burst = 2
per_secs = 60
"#;

pub(crate) fn protected(a: &Api, policy: &str) -> (Router, Arc<Edge>) {
    let mut state = a.state.clone();
    let edge = Edge::with_store(
        Policy::from_toml(policy).unwrap(),
        a.traffic.clone(),
        a.clock.clone(),
    );
    state.edge = edge.clone();
    (router(state), edge)
}

/// A request from `peer` (and any headers), as the server's listener would hand it over.
pub(crate) async fn from(
    app: &Router,
    peer: &str,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body.to_owned())).unwrap();
    let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_client_over_its_limit_is_refused_before_any_route_runs() {
    let a = api().await;
    let (app, _) = protected(&a, POLICY);
    let order = a.booking("11010519491231002X").to_string();
    let client = "198.51.100.7";
    let post = |peer: &'static str, body: String| {
        let app = app.clone();
        let token = a.visitor.clone();
        async move {
            from(
                &app,
                peer,
                "POST",
                "/api/v1/orders",
                Some(&token),
                &body,
                &[],
            )
            .await
        }
    };
    let (s, _, o) = post(client, order.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let (s, _, _) = post(client, "{not json".into()).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "the second request still reaches the route"
    );
    let before = a.remaining().await;
    let other_visitor = a.booking(&synthetic_resident_id(77)).to_string();
    let (s, retry, e) = post(client, other_visitor.clone()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{e}");
    assert_eq!(e["code"], "rate_limited");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("orders per address"));
    assert_eq!(retry.as_deref(), Some("30"));
    assert_eq!(a.remaining().await, before, "nothing was booked");
    // Even a body no route could parse gets 429: nothing reads it.
    let (s, _, _) = post(client, "{not json".into()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Other routes, and other addresses, are not limited.
    let (s, _, _) = from(
        &app,
        client,
        "GET",
        &format!("/api/v1/slots/{}", a.slot),
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, o) = post("198.51.100.8", other_visitor).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
}

#[tokio::test]
async fn only_a_trusted_proxy_says_who_the_client_is() {
    let a = api().await;
    let (app, _) = protected(&a, POLICY);
    let try_from = |peer: &'static str, forwarded: &'static str| {
        let app = app.clone();
        async move {
            from(
                &app,
                peer,
                "POST",
                "/api/v1/orders",
                None,
                "{}",
                &[("x-forwarded-for", forwarded)],
            )
            .await
            .0
        }
    };
    // Behind the load balancer: two clients, each with its own allowance.
    for _ in 0..2 {
        assert_eq!(
            try_from("10.0.0.1", "198.51.100.1").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            try_from("10.0.0.2", "198.51.100.2").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        try_from("10.0.0.1", "198.51.100.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        try_from("10.0.0.2", "198.51.100.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client writing its own header is still itself: rotating the header does not help.
    assert_eq!(
        try_from("203.0.113.9", "1.1.1.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        try_from("203.0.113.9", "2.2.2.2").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        try_from("203.0.113.9", "3.3.3.3").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn the_policy_reloads_from_its_file_only_when_valid_and_newer() {
    let a = api().await;
    let (app, edge) = protected(&a, POLICY);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shield.toml");
    let attempt = || {
        let app = app.clone();
        async move {
            from(
                &app,
                "198.51.100.7",
                "POST",
                "/api/v1/orders",
                None,
                "{}",
                &[],
            )
            .await
            .0
        }
    };
    for _ in 0..2 {
        attempt().await;
    }
    assert_eq!(attempt().await, StatusCode::TOO_MANY_REQUESTS);
    // A mistake is refused with its field; the running policy stays.
    std::fs::write(
        &file,
        POLICY
            .replace("version = 1", "version = 2")
            .replace("burst = 2", "burst = -1"),
    )
    .unwrap();
    let e = edge.reload_from(&file).unwrap_err();
    assert!(e.starts_with("limit[0].burst"), "{e}");
    std::fs::write(&file, POLICY.replace("burst = 2", "burst = 100")).unwrap();
    assert!(edge.reload_from(&file).unwrap_err().contains("not newer"));
    assert_eq!(edge.shield().policy().version, 1);
    // Version 2 with a bigger burst: the address has room again.
    std::fs::write(
        &file,
        POLICY
            .replace("version = 1", "version = 2")
            .replace("burst = 2", "burst = 100"),
    )
    .unwrap();
    assert_eq!(edge.reload_from(&file), Ok(2));
    assert_eq!(attempt().await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_route_at_its_rate_is_refused_or_queued_by_its_flow_rule() {
    let a = api().await;
    let (app, _) = protected(
        &a,
        r#"
version = 1
[[flow]]
name = "catalogue"
route = "GET /api/v1/products"
qps = 2
[[flow]]
name = "slot pages"
route = "GET /api/v1/slots/{id}"
qps = 10
control = "queue"
max_wait_ms = 400
"#,
    );
    let get = |uri: String| {
        let app = app.clone();
        async move { from(&app, "198.51.100.7", "GET", &uri, None, "", &[]).await }
    };
    // Two a second for everyone together: of six quick requests at most four pass (two, or
    // two in each of two seconds if the run straddles a second), the rest are 429 flow_limited.
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(get("/api/v1/products".into()).await);
    }
    let ok = answers.iter().filter(|r| r.0 == StatusCode::OK).count();
    assert!((2..=4).contains(&ok), "{answers:?}");
    let (_, retry, e) = answers
        .iter()
        .find(|r| r.0 == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    assert_eq!(e["code"], "flow_limited");
    assert_eq!(retry.as_deref(), Some("1"));
    // The queue spaces five requests 100 ms apart instead of refusing them; a sixth and seventh
    // at once would wait longer than 400 ms and are refused.
    let started = std::time::Instant::now();
    let uri = format!("/api/v1/slots/{}", a.slot);
    let all = futures_join((0..7).map(|_| get(uri.clone())).collect::<Vec<_>>()).await;
    let ok = all.iter().filter(|r| r.0 == StatusCode::OK).count();
    let refused = all
        .iter()
        .filter(|r| r.0 == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, refused), (5, 2), "{all:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(390),
        "the fifth waited its turn: {:?}",
        started.elapsed()
    );
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
