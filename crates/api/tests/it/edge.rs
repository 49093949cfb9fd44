//! Traffic protection in front of the routes: a client over a limit gets 429 with
//! `Retry-After` before any route, parser or booking logic runs; the client is its address, or
//! the one a trusted proxy forwarded; the policy reloads from its file only when valid and newer.

use super::*;
use axum::extract::ConnectInfo;
use gatehouse_edge::Edge;
use gatehouse_shield::Policy;

const POLICY: &str = r#"
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

fn protected(a: &Api, policy: &str) -> (Router, Arc<Edge>) {
    let mut state = a.state.clone();
    let edge = Edge::new(Policy::from_toml(policy).unwrap());
    state.edge = edge.clone();
    (router(state), edge)
}

/// A request from `peer` (and any headers), as the server's listener would hand it over.
async fn from(
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
