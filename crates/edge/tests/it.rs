//! The standalone gateway over real sockets: a small upstream service behind it, reqwest in
//! front. Forwarded requests arrive whole (method, path, query, body, headers less the hop-by-hop
//! ones, the client appended to `X-Forwarded-For`); refused ones never reach the upstream; an
//! unreachable upstream is 502.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::any;
use axum::Router;
use gatehouse_edge::gateway::{self, Upstream};
use gatehouse_edge::Edge;
use gatehouse_shield::Policy;

/// An upstream that answers with what it received, and counts requests.
async fn upstream() -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = Router::new().fallback(any(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let header = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
                axum::Json(serde_json::json!({
                    "method": method.as_str(),
                    "uri": uri.to_string(),
                    "host": header("host"),
                    "forwarded_for": header("x-forwarded-for"),
                    "keep_alive": header("keep-alive"),
                    "custom": header("x-custom"),
                    "body": String::from_utf8_lossy(&body),
                }))
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

async fn gateway_to(upstream: &str, policy: &str) -> String {
    serve_gateway(Edge::new(Policy::from_toml(policy).unwrap()), upstream).await
}

/// A gateway in front of `upstream` whose edge has the firewall's rules (CRS) attached.
async fn firewalled_gateway_to(upstream: &str, policy: &str, body_limit: usize) -> String {
    let edge = Edge::new(Policy::from_toml(policy).unwrap());
    edge.attach_firewall(
        gatehouse_waf::firewall::RuleFiles::beside_checkout(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
        ),
        body_limit,
        None,
    )
    .unwrap();
    serve_gateway(edge, upstream).await
}

async fn serve_gateway(edge: Arc<Edge>, upstream: &str) -> String {
    let app = gateway::router(edge, Upstream::parse(upstream).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}")
}

const TWO_ORDERS: &str = r#"
version = 1
[[limit]]
name = "orders per address"
route = "POST /orders"
key = "ip"
burst = 2
per_secs = 60
"#;

#[tokio::test]
async fn the_gateway_forwards_whole_requests_and_refuses_before_the_upstream() {
    let (up, seen) = upstream().await;
    let gw = gateway_to(&up, TWO_ORDERS).await;
    let http = reqwest::Client::new();
    let echo: serde_json::Value = http
        .post(format!("{gw}/orders?slot=7&x=%E4%B8%AD"))
        .header("x-custom", "kept")
        .header("x-forwarded-for", "198.51.100.9")
        .body("张三 booking")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/orders?slot=7&x=%E4%B8%AD");
    assert_eq!(echo["body"], "张三 booking");
    assert_eq!(echo["custom"], "kept");
    assert_eq!(echo["host"], up.trim_start_matches("http://"));
    assert_eq!(
        echo["forwarded_for"], "198.51.100.9, 127.0.0.1",
        "the connection's address is appended"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let second = http.post(format!("{gw}/orders")).send().await.unwrap();
    assert_eq!(second.status(), 200);
    let third = http.post(format!("{gw}/orders")).send().await.unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "the refused request never reached the upstream"
    );
    // Other routes pass.
    let page = http.get(format!("{gw}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = gateway_to(&format!("http://127.0.0.1:{port}"), "version = 1").await;
    let r = reqwest::get(format!("{gw}/x")).await.unwrap();
    assert_eq!(r.status(), 502);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_gateway");
}

#[tokio::test]
async fn the_gateways_firewall_stops_attacks_before_the_upstream() {
    let (up, seen) = upstream().await;
    let gw = firewalled_gateway_to(&up, "version = 1\n[firewall]\nmode = \"blocking\"", 4096).await;
    let http = reqwest::Client::new();
    // A form post with a Chinese name and an apostrophe goes through whole.
    let ok = http
        .post(format!("{gw}/visit"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=%E9%98%BF%E4%BE%9D%E5%8F%A4%E4%B8%BD%C2%B7%E4%B9%B0%E4%B9%B0%E6%8F%90&guest=O%27Brien")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let echo: serde_json::Value = ok.json().await.unwrap();
    assert!(echo["body"].as_str().unwrap().contains("guest=O%27Brien"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // SQL injection in a form, XSS in a query, a path traversal: stopped at the gateway.
    for (method, path, body) in [
        (
            Method::POST,
            "/visit",
            "name=x%27%20UNION%20SELECT%20password%20FROM%20users--",
        ),
        (
            Method::GET,
            "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
            "",
        ),
        (Method::GET, "/files?name=../../../../etc/passwd", ""),
    ] {
        let r = http
            .request(method, format!("{gw}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "request_blocked", "{path}");
    }
    // A body over the limit is refused whole.
    let big = http
        .post(format!("{gw}/visit"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("note={}", "a".repeat(5000)))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "nothing refused reached the upstream"
    );
}

#[tokio::test]
async fn with_response_bodies_inspected_a_leak_is_not_sent() {
    let app = Router::new()
        .route(
            "/leak",
            axum::routing::get(|| async {
                axum::response::Html("<p>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</p>")
            }),
        )
        .route(
            "/fine",
            axum::routing::get(|| async { axum::response::Html("<p>欢迎参观</p>") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let policy = "version = 1\n[firewall]\ninspect_response_bodies = true";
    let gw = firewalled_gateway_to(&up, policy, 4096).await;
    let fine = reqwest::get(format!("{gw}/fine")).await.unwrap();
    assert_eq!(fine.status(), 200);
    assert_eq!(fine.text().await.unwrap(), "<p>欢迎参观</p>");
    let leak = reqwest::get(format!("{gw}/leak")).await.unwrap();
    assert_eq!(leak.status(), 403);
    let body = leak.text().await.unwrap();
    assert!(
        body.contains("request_blocked") && !body.contains("SQL syntax"),
        "{body}"
    );
}
