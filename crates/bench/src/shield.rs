//! `gatehouse bench shield`: what traffic protection costs. In process, on one thread: the
//! verdict for requests of many clients under the built-in policy (every limit that covers a
//! booking is counted), one decision timed at a time for the p99; then a flood of rotating
//! source addresses against a small key table, to show its memory stays bounded. Over HTTP
//! (`shield_http.rs`, `flood.rs`): the gateway's overhead, throughput with protection on and
//! off, and the flood test.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use gatehouse_shield::{Binding, Policy, RequestFacts, Shield, Verdict, Via, DEFAULT_POLICY};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct ShieldArgs {
    /// Decisions to time.
    #[arg(long, default_value_t = 2_000_000)]
    pub decisions: usize,
    /// Distinct clients the decisions come from.
    #[arg(long, default_value_t = 50_000)]
    pub clients: u32,
    /// Source addresses rotated through the bounded table.
    #[arg(long, default_value_t = 1_000_000)]
    pub rotating_keys: u32,
    /// The key bound for the rotation (the policy's `state.max_keys`).
    #[arg(long, default_value_t = 100_000)]
    pub max_keys: usize,
    /// Sequential requests timed directly and through the gateway.
    #[arg(long, default_value_t = 20_000)]
    pub gateway_requests: usize,
    /// Connections for the on/off throughput comparison.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds per throughput round, and rounds (each round runs protection on, then off).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Only the in-process verdict and rotation figures.
    #[arg(long)]
    pub in_process_only: bool,
    /// Polite visitors in the flood test (0: no flood test).
    #[arg(long, default_value_t = 200)]
    pub polite: usize,
    /// Seconds of each flood-test phase (polite alone, then with the flood).
    #[arg(long, default_value_t = 20.0)]
    pub flood_seconds: f64,
    /// Connections the flooding client opens (all from one address).
    #[arg(long, default_value_t = 16)]
    pub flood_connections: usize,
    /// Only the flood test.
    #[arg(long)]
    pub flood_only: bool,
}

fn client(i: u32) -> IpAddr {
    // Spread over many /24s, as a real crowd is.
    IpAddr::V4(Ipv4Addr::from(
        0x0a00_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761) >> 4),
    ))
}

/// Resident set size in bytes (Linux), or 0 where unknown.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

pub async fn run(args: ShieldArgs) -> anyhow::Result<serde_json::Value> {
    if args.flood_only {
        return Ok(json!({
            "bench": "shield",
            "flood_test": crate::flood::flood(args.polite, args.flood_seconds, args.flood_connections).await?,
        }));
    }
    let policy = Policy::from_toml(DEFAULT_POLICY).map_err(|e| anyhow::anyhow!("{e}"))?;
    let limits = policy.limits.len();
    let shield = Shield::new(policy);
    let accounts: Vec<String> = (0..args.clients)
        .map(|i| format!("session-{i:08}"))
        .collect();
    let clients = args.clients.max(1);
    let mut samples = Vec::with_capacity(args.decisions);
    let mut limited = 0usize;
    let started = Instant::now();
    for i in 0..args.decisions {
        let c = (i as u32).wrapping_mul(7919) % clients;
        let facts = RequestFacts {
            method: "POST",
            path: "/api/v1/orders",
            peer: client(c),
            forwarded_for: &[],
            account: accounts.get(c as usize).map(String::as_str),
            device: None,
            user_agent: Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"),
            session: accounts.get(c as usize).map(String::as_str),
            pass: None,
            unix_now: 1_800_000_000,
            accept: Some("application/json"),
            accept_language: Some("zh-CN,zh;q=0.9"),
            fetch_metadata: true,
        };
        // The shield's clock: a request every 120 µs, so each client books about once every six
        // seconds and most decisions pass every limit (the full cost; a refusal stops early).
        let now_us = i as u64 * 120;
        let t = Instant::now();
        let verdict = shield.check(&facts, now_us);
        samples.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if matches!(verdict, Verdict::Limited { .. }) {
            limited += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    samples.sort_unstable();
    let ns = |p: f64| crate::setup::percentile(&samples, p);

    // The same under DDoS cleaning: every request must show a pass (checked: signature, end,
    // binding to client, browser, session and sale), and is counted for the top offenders.
    const UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)";
    shield.set_cleaning(true);
    let passes: Vec<String> = (0..clients)
        .map(|c| {
            let binding = Binding::of(
                client(c),
                UA,
                accounts.get(c as usize).map_or("", String::as_str),
                "cleaning",
            );
            shield.passes().pass(binding, Via::Work, 1_800_000_000, 600)
        })
        .collect();
    let mut pass_samples = Vec::with_capacity(args.decisions / 4);
    let mut challenged = 0usize;
    for i in 0..args.decisions / 4 {
        let c = (i as u32).wrapping_mul(7919) % clients;
        let session = accounts.get(c as usize).map(String::as_str);
        let facts = RequestFacts {
            method: "POST",
            path: "/api/v1/orders",
            peer: client(c),
            forwarded_for: &[],
            account: session,
            device: None,
            user_agent: Some(UA),
            session,
            pass: passes.get(c as usize).map(String::as_str),
            unix_now: 1_800_000_000,
            accept: Some("application/json"),
            accept_language: Some("zh-CN,zh;q=0.9"),
            fetch_metadata: true,
        };
        let now_us = (args.decisions + i) as u64 * 120;
        let t = Instant::now();
        let verdict = shield.check(&facts, now_us);
        pass_samples.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if matches!(verdict, Verdict::Challenge { .. }) {
            challenged += 1;
        }
    }
    pass_samples.sort_unstable();
    anyhow::ensure!(challenged == 0, "{challenged} valid passes were refused");

    // Rotation: every request from a new address, against a table of max_keys.
    let small = Policy::from_toml(&format!(
        "version = 1\n[state]\nmax_keys = {}\n[[limit]]\nname = \"per address\"\nroute = \"*\"\nkey = \"ip\"\nburst = 5\nper_secs = 60\n",
        args.max_keys
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rotation = Shield::new(small);
    let rss_before = rss_bytes();
    let started = Instant::now();
    for i in 0..args.rotating_keys {
        let facts = RequestFacts {
            method: "GET",
            path: "/",
            peer: IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761))),
            forwarded_for: &[],
            account: None,
            device: None,
            user_agent: None,
            session: None,
            pass: None,
            unix_now: 1_800_000_000,
            accept: None,
            accept_language: None,
            fetch_metadata: false,
        };
        let _ = rotation.check(&facts, u64::from(i));
    }
    let rotation_secs = started.elapsed().as_secs_f64();
    let (held, bound) = rotation.keys_held();
    anyhow::ensure!(held <= bound, "the key table grew past its bound");
    let (gateway, throughput) = if args.in_process_only {
        (serde_json::Value::Null, serde_json::Value::Null)
    } else {
        (
            crate::shield_http::gateway_overhead(args.gateway_requests).await?,
            crate::shield_http::api_throughput(args.connections, args.seconds, args.rounds).await?,
        )
    };
    let flood = if args.in_process_only || args.polite == 0 {
        serde_json::Value::Null
    } else {
        crate::flood::flood(args.polite, args.flood_seconds, args.flood_connections).await?
    };
    Ok(json!({
        "flood_test": flood,
        "gateway": gateway,
        "api_throughput": throughput,
        "bench": "shield",
        "policy": "built-in",
        "limits_in_policy": limits,
        "decisions": args.decisions,
        "clients": args.clients,
        "limited": limited,
        "decision_ns_p50": ns(50.0),
        "decision_ns_p99": ns(99.0),
        "decision_ns_p999": ns(99.9),
        "cleaning_with_pass_ns_p50": crate::setup::percentile(&pass_samples, 50.0),
        "cleaning_with_pass_ns_p99": crate::setup::percentile(&pass_samples, 99.0),
        "decisions_per_sec_one_core": args.decisions as f64 / elapsed,
        "rotating_keys": args.rotating_keys,
        "rotation_decisions_per_sec": f64::from(args.rotating_keys) / rotation_secs,
        "keys_held": held,
        "max_keys": bound,
        "rss_growth_bytes_during_rotation": rss_after(rss_before),
    }))
}

fn rss_after(before: u64) -> i64 {
    i64::try_from(rss_bytes()).unwrap_or(0) - i64::try_from(before).unwrap_or(0)
}
