//! `gatehouse bench queue`: what the waiting room costs over loopback HTTP on one node (with
//! `--redis`, sharing its lines through Redis as every node of a deployment does). A real server
//! gets a product whose day is protected with a pre-queue open now; the visitors sign in during
//! setup; then every one of them joins at once (joins per second), and then every connection
//! polls its visitors' places for a few seconds at the poll addresses the joins answered (polls
//! per second) — the request each waiting page repeats. With `--sell`, the release then opens
//! and is sold end to end ([`crate::queue_sell`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::Method;
use serde_json::json;
use tokio::sync::Barrier;

use crate::bare::BareConn;
use crate::client::Conn;
use crate::server::{cpu_seconds, peak_rss_mb, spawn, ServerSetup};
use crate::setup::{at, percentile_ms};

#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// Visitors who join (each a signed-in account).
    #[arg(long, default_value_t = 20_000)]
    pub visitors: usize,
    #[arg(long, default_value_t = 500)]
    pub connections: usize,
    /// How long the polling phase lasts.
    #[arg(long, default_value_t = 5)]
    pub poll_secs: u64,
    /// Share the waiting room through this Redis (`redis://127.0.0.1:6379`).
    #[arg(long)]
    pub redis: Option<String>,
    /// After the polls, open the release and sell it: everyone admitted books.
    #[arg(long)]
    pub sell: bool,
    /// Tickets on sale (one slot) with `--sell`.
    #[arg(long, default_value_t = 5_000)]
    pub capacity: i64,
    /// Each visitor books 1 to this many tickets (by its number) with `--sell`.
    #[arg(long, default_value_t = 3)]
    pub family_max: usize,
}

/// What the bench set up: the release, its slot and ticket type, and when it opens.
pub(crate) struct Setup {
    pub(crate) release: u64,
    pub(crate) slot: i64,
    pub(crate) ticket_type: i64,
    pub(crate) opens: jiff::Timestamp,
}

/// A product whose day opens `opens_in` from now (whole seconds), with one ticket type, a
/// notice and one slot of `capacity` on that day, and that day protected (pre-queue open for
/// 90 minutes before the opening).
pub(crate) async fn protected_release(
    addr: &str,
    admin: &str,
    opens_in: jiff::SignedDuration,
    capacity: i64,
) -> anyhow::Result<Setup> {
    let mut c = Conn::open(addr).await?;
    let opens = gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai")?)
        .checked_add(opens_in)?
        .round(jiff::Unit::Second)?;
    let day = opens.date().tomorrow()?;
    let (product, slot, ticket_type) = crate::setup::product_with_slot(
        &mut c,
        admin,
        json!({"kind": "hall", "name": "bench hall",
            "rules": {"open_days_before": 1, "open_at": opens.strftime("%H:%M:%S").to_string()}}),
        json!({"name": "individual", "price_fen": 0}),
        json!({"date": day.to_string(), "start": "09:00", "end": "17:00", "capacity": capacity}),
    )
    .await?;
    let r = c
        .send(
            Method::POST,
            "/api/v1/admin/releases",
            Some(admin),
            Some(&json!({
            "product_id": product, "date": day.to_string(), "prequeue_minutes": 90})),
        )
        .await?;
    anyhow::ensure!(
        r.status == 201,
        "release: {}",
        String::from_utf8_lossy(&r.body)
    );
    Ok(Setup {
        release: at(&r.json()?, "/id").as_u64().context("release id")?,
        slot,
        ticket_type,
        opens: opens.timestamp(),
    })
}

/// Each visitor's poll address, as `GET …/me` (like their join) answers it.
async fn poll_paths(addr: &str, tokens: &[String], release: u64) -> anyhow::Result<Vec<String>> {
    let mut c = Conn::open(addr).await?.with_host("tickets.museum.example");
    let mut paths = Vec::with_capacity(tokens.len());
    for token in tokens {
        let r = c
            .send(
                Method::GET,
                &format!("/api/v1/releases/{release}/me"),
                Some(token),
                None,
            )
            .await?;
        paths.push(
            at(&r.json()?, "/poll_path")
                .as_str()
                .context("poll_path")?
                .to_owned(),
        );
    }
    Ok(paths)
}

#[derive(Default)]
struct Phase {
    latencies_us: Vec<u64>,
    answers: HashMap<String, u64>,
}

impl Phase {
    /// One request that started at `t0` and got `r`.
    fn note(&mut self, t0: Instant, r: &crate::client::Reply) {
        self.latencies_us
            .push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
        *self.answers.entry(r.tally_key()).or_default() += 1;
    }

    fn add(&mut self, other: Phase) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.answers {
            *self.answers.entry(k).or_default() += v;
        }
    }
}

/// Runs `connections` clients at once: each calls `work` until it returns `None`. They speak
/// through [`BareConn`], so the client's own CPU, on the same two cores, stays small.
async fn phase<F, Fut>(addr: &str, connections: usize, work: F) -> anyhow::Result<(Phase, Duration)>
where
    F: Fn(usize, BareConn) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = anyhow::Result<Phase>> + Send + 'static,
{
    // The clients run on one thread of their own: the server shares the machine's two cores
    // with them, and one thread is plenty for them while it wakes fewer of the server's.
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(clients(&addr, connections, work))
    })
    .await?
}

async fn clients<F, Fut>(
    addr: &str,
    connections: usize,
    work: F,
) -> anyhow::Result<(Phase, Duration)>
where
    F: Fn(usize, BareConn) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = anyhow::Result<Phase>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(connections + 1));
    let mut tasks = Vec::with_capacity(connections);
    for n in 0..connections {
        let (addr, barrier, work) = (addr.to_owned(), barrier.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            // Browsers name the museum's host; a numeric Host header is logged by the firewall.
            let conn = BareConn::open(&addr, "tickets.museum.example").await;
            barrier.wait().await;
            work(n, conn?).await
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut all = Phase::default();
    for t in tasks {
        all.add(t.await??);
    }
    Ok((all, started.elapsed()))
}

fn jiff_now() -> jiff::Timestamp {
    gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
}

fn summary(p: &mut Phase, took: Duration) -> serde_json::Value {
    p.latencies_us.sort_unstable();
    let n = p.latencies_us.len() as u64;
    json!({
        "requests": n,
        "per_s": (n as f64 / took.as_secs_f64()).round(),
        "p50_ms": percentile_ms(&p.latencies_us, 50.0),
        "p99_ms": percentile_ms(&p.latencies_us, 99.0),
        "answers": p.answers,
        "seconds": took.as_secs_f64(),
    })
}

pub async fn run(args: QueueArgs) -> anyhow::Result<serde_json::Value> {
    let mut env = Vec::new();
    if let Some(url) = &args.redis {
        env.push(("GATEHOUSE_SHIELD__REDIS_URL".to_owned(), url.clone()));
        // A prefix of its own: the run starts from an empty log.
        env.push((
            "GATEHOUSE_SHIELD__REDIS_PREFIX".to_owned(),
            format!(
                "bench{}-{}",
                std::process::id(),
                jiff_now().as_millisecond()
            ),
        ));
    }
    let spawned = spawn(ServerSetup {
        data_dir: None,
        pg_url: None,
        env,
    })
    .await?;
    let (addr, admin) = (spawned.addr.clone(), spawned.admin_token.clone());
    let tokens = Arc::new(crate::signin::sign_in_visitors(&addr, &admin, args.visitors, 0).await?);
    // Selling: the opening follows the joins and polls (joins at 10,000/s at the least, then
    // the polls, and a margin); otherwise an hour ahead.
    let opens_in = if args.sell {
        jiff::SignedDuration::from_secs(
            i64::try_from(args.visitors / 10_000 + 2 * args.visitors / 40_000).unwrap_or(0)
                + i64::try_from(args.poll_secs).unwrap_or(0)
                + 10,
        )
    } else {
        jiff::SignedDuration::from_hours(1)
    };
    let setup = protected_release(&addr, &admin, opens_in, args.capacity).await?;
    let release = setup.release;
    let server_pid = spawned.child.id();
    let cpu = |pid: Option<u32>| pid.and_then(|p| cpu_seconds(&p.to_string()));

    // Everyone joins at once.
    let next = Arc::new(AtomicUsize::new(0));
    let join_path = format!("/api/v1/releases/{release}/join");
    let before = (cpu(server_pid), cpu_seconds("self"));
    let (mut joins, joins_took) = {
        let (next, tokens, path) = (next.clone(), tokens.clone(), join_path.clone());
        phase(&addr, args.connections, move |_, mut conn| {
            let (next, tokens, path) = (next.clone(), tokens.clone(), path.clone());
            async move {
                let mut p = Phase::default();
                while let Some(token) = tokens.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let t0 = Instant::now();
                    // The join takes no body, as an API client sends it.
                    let r = conn.send("POST", &path, Some(token)).await?;
                    p.note(t0, &r);
                }
                anyhow::Ok(p)
            }
        })
        .await?
    };
    let after_joins = (cpu(server_pid), cpu_seconds("self"));

    // Then every connection polls its visitors' places for a while, at the addresses the joins
    // answered (as the waiting page does).
    let paths = Arc::new(poll_paths(&addr, &tokens, release).await?);
    let until = Instant::now() + Duration::from_secs(args.poll_secs.max(1));
    let connections = args.connections;
    let polls_cpu = (cpu(server_pid), cpu_seconds("self"));
    let (mut polls, polls_took) = {
        let paths = paths.clone();
        phase(&addr, connections, move |n, mut conn| {
            let paths = paths.clone();
            async move {
                let mut p = Phase::default();
                let mut i = n;
                while Instant::now() < until {
                    let Some(path) = paths.get(i % paths.len().max(1)) else {
                        break;
                    };
                    i += connections;
                    let t0 = Instant::now();
                    let r = conn.send("GET", path, None).await?;
                    p.note(t0, &r);
                }
                anyhow::Ok(p)
            }
        })
        .await?
    };
    let after_polls = (cpu(server_pid), cpu_seconds("self"));
    let sold = if args.sell {
        let opens_in = setup
            .opens
            .duration_since(jiff_now())
            .try_into()
            .unwrap_or(Duration::ZERO);
        let sale = crate::queue_sell::Sale {
            addr: addr.clone(),
            admin: admin.clone(),
            release,
            slot: setup.slot,
            ticket_type: setup.ticket_type,
            capacity: args.capacity,
            // The first tick at or after the opening shuffles.
            opens_in: opens_in + Duration::from_millis(150),
            family_max: args.family_max,
            connections: args.connections,
            deadline: Duration::from_secs(600),
        };
        Some(crate::queue_sell::sell(sale, &tokens, &paths).await?)
    } else {
        None
    };
    let used =
        |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| ((b - a) * 100.0).round() / 100.0);
    let result = json!({
        "bench": "queue",
        "nodes": 1,
        "redis": args.redis.is_some(),
        "visitors": args.visitors,
        "connections": args.connections,
        "joins": summary(&mut joins, joins_took),
        "polls": summary(&mut polls, polls_took),
        "server_cpu_s": {"joins": used(before.0, after_joins.0), "polls": used(polls_cpu.0, after_polls.0)},
        "client_cpu_s": {"joins": used(before.1, after_joins.1), "polls": used(polls_cpu.1, after_polls.1)},
        "release": sold,
        "peak_rss_mb": server_pid.and_then(peak_rss_mb).map(|m| (m * 10.0).round() / 10.0),
    });
    let mut s = spawned;
    let _ = s.child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.child.wait()).await;
    Ok(result)
}
