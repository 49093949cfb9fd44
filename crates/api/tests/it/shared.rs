//! Limits shared across nodes through a real Redis (GH_TEST_REDIS=1; the test starts its own
//! `redis-server`): two nodes count one client exactly once between them; when Redis dies each
//! node falls back to its own limits (never "allow all") with a security event, and shares
//! again once Redis answers.

use super::edge::{from, POLICY};
use super::*;
use gatehouse_edge::Edge;
use gatehouse_shield::Policy;
use std::time::Duration;

pub(crate) struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    pub(crate) fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        Self { child, port }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn ready(&self) {
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..100 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start");
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn node(a: &Api, url: &str, prefix: &str) -> (Router, Arc<Edge>) {
    let mut state = a.state.clone();
    let edge = Edge::with_store(
        Policy::from_toml(POLICY).unwrap(),
        a.traffic.clone(),
        a.clock.clone(),
    );
    edge.share_limits(url, prefix).await.unwrap();
    state.edge = edge.clone();
    (router(state), edge)
}

/// A node's edge alone, sharing `policy`'s limits through Redis (and, as every node of a
/// deployment does, the key people are blinded with).
async fn shared_edge(a: &Api, policy: &str, url: &str, prefix: &str) -> Arc<Edge> {
    let edge = Edge::with_store(
        Policy::from_toml(policy).unwrap(),
        a.traffic.clone(),
        a.clock.clone(),
    );
    edge.shield().set_pass_key(&[9; 32]);
    edge.share_limits(url, prefix).await.unwrap();
    edge
}

async fn order(app: &Router, peer: &str) -> StatusCode {
    from(app, peer, "POST", "/api/v1/orders", None, "{}", &[])
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_limits_and_fall_back_to_their_own_when_redis_dies() {
    if std::env::var("GH_TEST_REDIS").is_err() {
        eprintln!("skipped: set GH_TEST_REDIS=1 (needs redis-server)");
        return;
    }
    let a = api().await;
    let mut redis = Redis::start(free_port());
    redis.ready().await;
    let prefix = format!("test{}", std::process::id());
    let (one, edge_one) = node(&a, &redis.url(), &prefix).await;
    let (two, edge_two) = node(&a, &redis.url(), &prefix).await;
    // "orders per address": 2 a minute, counted once across both nodes.
    let client = "198.51.100.7";
    assert_eq!(order(&one, client).await, StatusCode::UNAUTHORIZED);
    assert_eq!(order(&two, client).await, StatusCode::UNAUTHORIZED);
    assert_eq!(order(&one, client).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(order(&two, client).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(order(&two, "198.51.100.8").await, StatusCode::UNAUTHORIZED);

    // Redis dies: node one counts on its own — the limit still holds.
    redis.kill();
    let other = "198.51.100.9";
    assert_eq!(order(&one, other).await, StatusCode::UNAUTHORIZED);
    assert_eq!(order(&one, other).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        order(&one, other).await,
        StatusCode::TOO_MANY_REQUESTS,
        "never allow-all"
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
        events.to_string().contains("shared_limits_degraded"),
        "{events}"
    );
    assert!(!edge_one.probe_shared().await);

    // Redis is back: each node's next probe (once a second in a server) shares again; a node
    // that had not noticed the outage notices its broken connection first.
    let mut redis = Redis::start(redis.port);
    redis.ready().await;
    assert!(edge_one.probe_shared().await);
    let mut probes = 0;
    while !edge_two.probe_shared().await {
        probes += 1;
        assert!(probes < 20, "node two never reconnected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, events) = call(
        &a.app,
        "GET",
        "/api/v1/admin/security-events",
        Some(&a.admin),
        None,
    )
    .await;
    assert!(
        events.to_string().contains("shared_limits_restored"),
        "{events}"
    );
    let fresh = "198.51.100.20";
    assert_eq!(order(&one, fresh).await, StatusCode::UNAUTHORIZED);
    assert_eq!(order(&two, fresh).await, StatusCode::UNAUTHORIZED);
    assert_eq!(order(&one, fresh).await, StatusCode::TOO_MANY_REQUESTS);
    redis.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_counted_once_across_nodes_and_never_stored_in_clear() {
    if std::env::var("GH_TEST_REDIS").is_err() {
        eprintln!("skipped: set GH_TEST_REDIS=1 (needs redis-server)");
        return;
    }
    const PER_ID: &str = r#"
version = 1
[[limit]]
name = "orders per ID number"
route = "POST /api/v1/orders"
key = "id_number"
burst = 3
per_secs = 600
"#;
    let a = api().await;
    let mut redis = Redis::start(free_port());
    redis.ready().await;
    let prefix = format!("subjects{}", std::process::id());
    let one = shared_edge(&a, PER_ID, &redis.url(), &prefix).await;
    let two = shared_edge(&a, PER_ID, &redis.url(), &prefix).await;
    let id = "110101199003070011";
    let count = |edge: &Arc<Edge>| {
        let edge = edge.clone();
        async move {
            edge.count_subject(
                gatehouse_edge::KeyKind::IdNumber,
                "POST",
                "/api/v1/orders",
                id,
            )
            .await
        }
    };
    assert!(count(&one).await.is_ok());
    assert!(count(&two).await.is_ok());
    assert!(count(&one).await.is_ok());
    let refused = count(&two).await.unwrap_err();
    assert_eq!(&*refused.limit, "orders per ID number");
    assert!(count(&one).await.is_err(), "both nodes see the same count");
    // What Redis holds names no one: no key or value contains the number, in any spelling.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    for key in &keys {
        assert!(!key.contains(id) && !key.contains(&hex), "{key}");
    }
    redis.kill();
}
