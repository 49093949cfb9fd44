//! The HTTP half of `gatehouse bench shield`: what the standalone gateway adds to a request's
//! time (a tiny upstream called directly, then through an in-process gateway running the full
//! policy), and the API's throughput with protection on and off (a real server each time, the
//! same cheap catalogue route hammered over many connections — the worst case for the ratio,
//! since the route itself costs little).

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use gatehouse_edge::gateway::{self, Upstream};
use gatehouse_edge::Edge;
use gatehouse_shield::{Policy, DEFAULT_POLICY};
use hyper::Method;
use serde_json::{json, Value};

use crate::client::Conn;
use crate::server::{spawn, ServerSetup};
use crate::setup::percentile as pct;

/// The built-in policy with every limit (and cleaning's thresholds) raised to a million a
/// second, so no benchmark client trips one: every check still runs.
pub fn full_policy_never_tripped() -> String {
    DEFAULT_POLICY
        .lines()
        .map(|l| {
            if l.starts_with("burst = ") {
                "burst = 1000000".to_owned()
            } else if l.starts_with("max_requests_per_sec")
                || l.starts_with("max_bits_per_sec")
                || l.starts_with("max_packets_per_sec")
            {
                // Cleaning would engage at these rates; its thresholds are raised like the limits.
                format!("{} = 1000000000000", l.split(" =").next().unwrap_or(""))
            } else if l.starts_with("per_secs = ") {
                "per_secs = 1".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn serve_in_process(app: Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    Ok(addr.to_string())
}

/// Response times in microseconds of `n` sequential requests on one kept-alive connection,
/// sorted, after a warm-up.
async fn latencies(addr: &str, path: &str, n: usize) -> anyhow::Result<Vec<u64>> {
    let mut conn = Conn::open(addr).await?;
    for _ in 0..500 {
        conn.send(Method::GET, path, None, None).await?;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = conn.send(Method::GET, path, None, None).await?;
        out.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
        anyhow::ensure!(reply.status == 200, "status {}", reply.status);
    }
    out.sort_unstable();
    Ok(out)
}

pub async fn gateway_overhead(requests: usize) -> anyhow::Result<Value> {
    let upstream = serve_in_process(Router::new().route(
        "/api/v1/products",
        get(|| async { axum::Json(json!([{"id": 1, "name": "常设展厅"}])) }),
    ))
    .await?;
    let policy =
        Policy::from_toml(&full_policy_never_tripped()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let gw = serve_in_process(gateway::router(
        Edge::new(policy),
        Upstream::parse(&format!("http://{upstream}")).map_err(anyhow::Error::msg)?,
    ))
    .await?;
    let direct = latencies(&upstream, "/api/v1/products", requests).await?;
    let via = latencies(&gw, "/api/v1/products", requests).await?;
    Ok(json!({
        "requests": requests,
        "direct_p50_us": pct(&direct, 50.0),
        "direct_p99_us": pct(&direct, 99.0),
        "gateway_p50_us": pct(&via, 50.0),
        "gateway_p99_us": pct(&via, 99.0),
        "added_p50_us": pct(&via, 50.0).saturating_sub(pct(&direct, 50.0)),
        "added_p99_us": pct(&via, 99.0).saturating_sub(pct(&direct, 99.0)),
    }))
}

/// Requests per second a real server answers on a cheap route over `conns` connections, each
/// from an address of its own (`crowd`) or all from 127.0.0.1.
pub(crate) async fn server_rate(
    env: Vec<(String, String)>,
    conns: usize,
    secs: f64,
    crowd: bool,
) -> anyhow::Result<f64> {
    let server = spawn(ServerSetup {
        data_dir: None,
        pg_url: None,
        env,
    })
    .await?;
    let addr = server.addr.clone();
    let run = |window: Duration| {
        let addr = addr.clone();
        async move {
            let deadline = Instant::now() + window;
            let mut tasks = Vec::with_capacity(conns);
            for i in 0..conns {
                let addr = addr.clone();
                tasks.push(tokio::spawn(async move {
                    let mut conn = if crowd {
                        let [_, _, a, b] = (i as u32 + 1).to_be_bytes();
                        Conn::open_from(&addr, std::net::Ipv4Addr::new(127, 1, a, b).into()).await?
                    } else {
                        Conn::open(&addr).await?
                    };
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        let reply = conn
                            .send(Method::GET, "/api/v1/products", None, None)
                            .await?;
                        anyhow::ensure!(reply.status == 200, "status {}", reply.status);
                        done += 1;
                    }
                    anyhow::Ok(done)
                }));
            }
            let mut total = 0u64;
            for t in tasks {
                total += t.await??;
            }
            anyhow::Ok(total)
        }
    };
    run(Duration::from_secs(1)).await?;
    let started = Instant::now();
    let done = run(Duration::from_secs_f64(secs)).await?;
    let rate = done as f64 / started.elapsed().as_secs_f64();
    drop(server);
    Ok(rate)
}

pub async fn api_throughput(conns: usize, secs: f64, rounds: usize) -> anyhow::Result<Value> {
    let policy_file = std::env::temp_dir().join(format!(
        "gatehouse-bench-shield-{}.toml",
        std::process::id()
    ));
    std::fs::write(&policy_file, full_policy_never_tripped())?;
    let on_env = vec![(
        "GATEHOUSE_SHIELD__POLICY".to_owned(),
        policy_file.display().to_string(),
    )];
    let off_env = vec![("GATEHOUSE_SHIELD__ENABLED".to_owned(), "false".to_owned())];
    let (mut on, mut off, mut one_address) = (Vec::new(), Vec::new(), Vec::new());
    // Alternate, so a noisy neighbour on the VM hurts both sides alike.
    for _ in 0..rounds.max(1) {
        on.push(server_rate(on_env.clone(), conns, secs, true).await?);
        off.push(server_rate(off_env.clone(), conns, secs, true).await?);
        one_address.push(server_rate(on_env.clone(), conns, secs, false).await?);
    }
    let _ = std::fs::remove_file(&policy_file);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(json!({
        "route": "GET /api/v1/products",
        "connections": conns,
        "seconds_per_round": secs,
        "protection_on_per_sec": on,
        "protection_off_per_sec": off,
        "ratio_on_to_off": mean(&on) / mean(&off),
        "all_from_one_address_on_per_sec": one_address,
        "ratio_one_address_to_off": mean(&one_address) / mean(&off),
    }))
}
