//! `gatehouse bench rush`: replays a 09:00 release over loopback HTTP. Thousands of visitors with
//! distinct accounts (some sharing ID numbers across accounts, as scalpers do) hold open
//! connections, wait at a barrier, and all try to book at once; a visitor whose slot sold out
//! tries the next one. Afterwards the answers are checked against the capacity and the per-ID
//! limit, and against the server's own counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use gatehouse_domain::identity::synthetic_resident_id;
use hyper::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tokio::sync::Barrier;

use crate::client::Conn;
use crate::server::{cpu_seconds, peak_rss_mb, spawn, ServerSetup};

#[derive(Debug, Clone, clap::Args)]
pub struct RushArgs {
    /// Target a running server (`127.0.0.1:8080`) instead of starting one.
    #[arg(long)]
    pub target: Option<String>,
    /// Staff token for --target.
    #[arg(long, env = "GH_BENCH_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Start the server on PostgreSQL at this URL (a fresh schema) instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
    #[arg(long, default_value_t = 30_000)]
    pub visitors: usize,
    #[arg(long, default_value_t = 4)]
    pub slots: usize,
    #[arg(long, default_value_t = 2_500)]
    pub tickets_per_slot: u32,
    #[arg(long, default_value_t = 1_000)]
    pub connections: usize,
    /// Percent of visitors who reuse an ID number already used by another account.
    #[arg(long, default_value_t = 10)]
    pub shared_id_percent: u32,
    #[arg(long, default_value_t = 20_261_123)]
    pub seed: u64,
    /// Restart the server between setup and the rush, so no session is cached: every visitor's
    /// first request reads its account from the database.
    #[arg(long)]
    pub cold_sessions: bool,
}

#[derive(Default)]
struct TaskStats {
    latencies_us: Vec<u32>,
    confirmed_us: Vec<u32>,
    confirmed: Vec<(usize, usize)>,
    sold_out: u64,
    limit_rejected: u64,
    other: HashMap<String, u64>,
}

struct Visitor {
    token: String,
    id_number: String,
    preferred_slot: usize,
}

async fn setup_catalogue(
    addr: &str,
    admin: &str,
    args: &RushArgs,
) -> anyhow::Result<(Vec<i64>, i64)> {
    let mut c = Conn::open(addr).await?;
    let product = c
        .send(
            Method::POST,
            "/api/v1/admin/products",
            Some(admin),
            Some(&json!({"kind": "entry", "name": format!("rush bench {}", args.seed), "rules": {"open_days_before": 30, "id_limit_per_day": 1}})),
        )
        .await?;
    anyhow::ensure!(
        product.status == 201,
        "creating the product answered {}: {}",
        product.status,
        String::from_utf8_lossy(&product.body)
    );
    let product_id = product
        .json()?
        .get("id")
        .and_then(serde_json::Value::as_i64)
        .context("product id")?;
    let tt = c
        .send(
            Method::POST,
            &format!("/api/v1/admin/products/{product_id}/ticket-types"),
            Some(admin),
            Some(&json!({"name": "individual", "price_fen": 0})),
        )
        .await?;
    let ticket_type = tt
        .json()?
        .get("id")
        .and_then(serde_json::Value::as_i64)
        .context("ticket type id")?;
    c.send(
        Method::POST,
        &format!("/api/v1/admin/products/{product_id}/notices"),
        Some(admin),
        Some(&json!({"text": "rush notice"})),
    )
    .await?;
    let now = gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock);
    let tomorrow = now
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai")?)
        .date()
        .tomorrow()?;
    let mut slots = Vec::new();
    for i in 0..args.slots {
        let start = format!("{:02}:00", 9 + i);
        let end = format!("{:02}:00", 10 + i);
        let r = c
            .send(
                Method::POST,
                &format!("/api/v1/admin/products/{product_id}/slots"),
                Some(admin),
                Some(&json!({"date": tomorrow.to_string(), "start": start, "end": end, "capacity": args.tickets_per_slot})),
            )
            .await?;
        anyhow::ensure!(
            r.status == 201,
            "creating a slot answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        slots.push(
            r.json()?
                .get("id")
                .and_then(serde_json::Value::as_i64)
                .context("slot id")?,
        );
    }
    Ok((slots, ticket_type))
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted_us.len() - 1) as f64).round() as usize;
    f64::from(sorted_us.get(rank).copied().unwrap_or(0)) / 1000.0
}

pub async fn run(args: RushArgs) -> anyhow::Result<serde_json::Value> {
    let setup_started = Instant::now();
    let mut spawned = match &args.target {
        Some(_) => None,
        None => Some(
            spawn(ServerSetup {
                data_dir: None,
                pg_url: args.postgres.clone(),
                env: Vec::new(),
            })
            .await?,
        ),
    };
    let (addr, admin) = match (&spawned, &args.target) {
        (Some(s), _) => (s.addr.clone(), s.admin_token.clone()),
        (None, Some(t)) => (
            t.clone(),
            args.admin_token
                .clone()
                .context("--target needs --admin-token")?,
        ),
        (None, None) => anyhow::bail!("no server"),
    };
    let (slots, ticket_type) = setup_catalogue(&addr, &admin, &args).await?;
    let tokens = crate::signin::sign_in_visitors(&addr, &admin, args.visitors, 0).await?;
    let addr = match (&mut spawned, args.cold_sessions) {
        (Some(s), true) => {
            s.restart().await?;
            s.addr.clone()
        }
        (None, true) => anyhow::bail!("--cold-sessions needs a server the bench starts itself"),
        _ => addr,
    };
    let server_pid = spawned.as_ref().and_then(|s| s.child.id());
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let id_base: u32 = rng.gen_range(0..5_000_000);
    let mut visitors: Vec<Visitor> = Vec::with_capacity(args.visitors);
    for (i, token) in tokens.into_iter().enumerate() {
        let id_number = if i > 0 && rng.gen_range(0..100) < args.shared_id_percent {
            visitors
                .get(rng.gen_range(0..i))
                .map(|v| v.id_number.clone())
                .unwrap_or_default()
        } else {
            synthetic_resident_id(id_base + u32::try_from(i)?)
        };
        visitors.push(Visitor {
            token,
            id_number,
            preferred_slot: rng.gen_range(0..slots.len().max(1)),
        });
    }
    let visitors = Arc::new(visitors);
    let slots = Arc::new(slots);
    let setup_s = setup_started.elapsed().as_secs_f64();

    // Everyone connects first, then all fire at once.
    let capacity = u64::from(args.tickets_per_slot) * slots.len() as u64;
    let barrier = Arc::new(Barrier::new(args.connections + 1));
    let next = Arc::new(AtomicUsize::new(0));
    let confirmed_count = Arc::new(AtomicU64::new(0));
    let sold_out_at_us = Arc::new(AtomicU64::new(0));
    let start_cell = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let (addr, barrier, next, visitors, slots) = (
            addr.clone(),
            barrier.clone(),
            next.clone(),
            visitors.clone(),
            slots.clone(),
        );
        let (confirmed_count, sold_out_at_us, start_cell) = (
            confirmed_count.clone(),
            sold_out_at_us.clone(),
            start_cell.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let conn = Conn::open(&addr).await;
            barrier.wait().await;
            let mut conn = conn?;
            let mut stats = TaskStats::default();
            let started = *start_cell.get_or_init(Instant::now);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(v) = visitors.get(i) else { break };
                for attempt in 0..slots.len() {
                    let slot_idx = (v.preferred_slot + attempt) % slots.len();
                    // Written by hand: the load generator shares the machine, so it spends as little as it can.
                    let body = format!(
                        r#"{{"slot_id":{},"notice_version":1,"contact_phone":"13800000000","tickets":[{{"ticket_type_id":{ticket_type},"visitor":{{"name":"游客","id_type":"resident_id","id_number":"{}"}}}}]}}"#,
                        slots.get(slot_idx).copied().unwrap_or_default(),
                        v.id_number
                    );
                    let t0 = Instant::now();
                    let reply = conn.send_raw(Method::POST, "/api/v1/orders", Some(&v.token), body.into_bytes()).await?;
                    stats.latencies_us.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if reply.status == 201 {
                        stats.confirmed_us.push(stats.latencies_us.last().copied().unwrap_or_default());
                        stats.confirmed.push((i, slot_idx));
                        if confirmed_count.fetch_add(1, Ordering::Relaxed) + 1 == capacity {
                            sold_out_at_us.store(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
                        }
                        break;
                    }
                    match reply.code() {
                        "sold_out" => stats.sold_out += 1,
                        "id_limit_reached" => {
                            stats.limit_rejected += 1;
                            break;
                        }
                        other => {
                            *stats.other.entry(format!("{} {other}", reply.status)).or_default() += 1;
                            break;
                        }
                    }
                }
            }
            anyhow::Ok(stats)
        }));
    }
    let server_cpu_before = server_pid.and_then(|p| cpu_seconds(&p.to_string()));
    let client_cpu_before = cpu_seconds("self");
    barrier.wait().await;
    let rush_started = *start_cell.get_or_init(Instant::now);
    let mut all = TaskStats::default();
    for t in tasks {
        let s = t.await??;
        all.latencies_us.extend(s.latencies_us);
        all.confirmed_us.extend(s.confirmed_us);
        all.confirmed.extend(s.confirmed);
        all.sold_out += s.sold_out;
        all.limit_rejected += s.limit_rejected;
        for (k, v) in s.other {
            *all.other.entry(k).or_default() += v;
        }
    }
    let rush = rush_started.elapsed();
    let used = |before: Option<f64>, now: Option<f64>| {
        before
            .zip(now)
            .map(|(b, n)| ((n - b) * 100.0).round() / 100.0)
    };
    let server_cpu_s = used(
        server_cpu_before,
        server_pid.and_then(|p| cpu_seconds(&p.to_string())),
    );
    let client_cpu_s = used(client_cpu_before, cpu_seconds("self"));

    // Check the answers: per slot against capacity, per ID number against the limit of one.
    let mut per_slot = vec![0u64; slots.len()];
    let mut per_id: HashMap<&str, u64> = HashMap::new();
    for (visitor, slot) in &all.confirmed {
        if let Some(n) = per_slot.get_mut(*slot) {
            *n += 1;
        }
        if let Some(v) = visitors.get(*visitor) {
            *per_id.entry(v.id_number.as_str()).or_default() += 1;
        }
    }
    let oversold: u64 = per_slot
        .iter()
        .map(|n| n.saturating_sub(u64::from(args.tickets_per_slot)))
        .sum();
    let over_limit: u64 = per_id.values().map(|n| n.saturating_sub(1)).sum();
    // And against the server's own count.
    let mut c = Conn::open(&addr).await?;
    let mut server_taken = 0u64;
    for id in slots.iter() {
        let r = c
            .send(Method::GET, &format!("/api/v1/slots/{id}"), None, None)
            .await?
            .json()?;
        let cap = r
            .get("capacity")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let remaining = r
            .get("remaining")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        server_taken += cap - remaining;
    }

    all.latencies_us.sort_unstable();
    all.confirmed_us.sort_unstable();
    let attempts = all.latencies_us.len() as u64;
    let sold_out_ms = sold_out_at_us.load(Ordering::Relaxed);
    let result = json!({
        "bench": "rush",
        "sessions": if args.cold_sessions { "cold" } else { "warm" },
        "database": if args.target.is_some() { "target" } else if args.postgres.is_some() { "postgresql" } else { "sqlite" },
        "visitors": args.visitors,
        "tickets": capacity,
        "connections": args.connections,
        "attempts": attempts,
        "confirmed": all.confirmed.len(),
        "sold_out": all.sold_out,
        "limit_rejected": all.limit_rejected,
        "other_errors": all.other,
        "oversold": oversold,
        "over_limit": over_limit,
        "server_taken": server_taken,
        "server_agrees": server_taken == all.confirmed.len() as u64,
        "attempts_per_s": (attempts as f64 / rush.as_secs_f64()).round(),
        "p50_ms": percentile_ms(&all.latencies_us, 50.0),
        "p99_ms": percentile_ms(&all.latencies_us, 99.0),
        "max_ms": percentile_ms(&all.latencies_us, 100.0),
        "confirmed_p50_ms": percentile_ms(&all.confirmed_us, 50.0),
        "confirmed_p99_ms": percentile_ms(&all.confirmed_us, 99.0),
        "ms_to_sell_out": if sold_out_ms > 0 { json!((sold_out_ms as f64 / 1000.0).round()) } else { json!(null) },
        "rush_s": rush.as_secs_f64(),
        "setup_s": setup_s,
        "server_cpu_s": server_cpu_s,
        "client_cpu_s": client_cpu_s,
        "peak_rss_mb": server_pid.and_then(peak_rss_mb).map(|m| (m * 10.0).round() / 10.0),
    });
    if let Some(mut s) = spawned {
        let _ = s.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.child.wait()).await;
    }
    Ok(result)
}
