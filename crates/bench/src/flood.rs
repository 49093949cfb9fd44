//! The flood test of `gatehouse bench shield`: a real server running the built-in policy, 200
//! polite visitors (each from its own loopback address, browsing a slot's availability and now
//! and then booking, at a person's irregular pace), first alone and then with one client
//! booking at full speed from one address over many connections. Polite visitors answer a
//! challenge when they get one, as the page's script would. Reported: the share of polite
//! requests that succeeded, how the flood was answered (and how many of its requests reached
//! the booking logic), and the polite bookings' p99 with and without the flood.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_domain::identity::synthetic_resident_id;
use gatehouse_shield::{leading_zero_bits, work_hash, Work, DEFAULT_POLICY};
use hyper::Method;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::client::Conn;
use crate::server::{spawn, ServerSetup};
use crate::setup::{at, percentile_ms, product_tomorrow};

/// One phase's polite traffic.
#[derive(Default)]
struct Polite {
    ok: u64,
    failed: HashMap<String, u64>,
    challenges_solved: u64,
    booking_us: Vec<u64>,
    browse_us: Vec<u64>,
}

/// Solves a challenge as the solver script does; the counter.
fn solve(challenge: &Value) -> Option<u64> {
    let token = at(challenge, "/token").as_str()?;
    let work = match at(challenge, "/work").as_str()? {
        "sha256" => Work::Sha256,
        _ => Work::Balloon {
            memory_kib: u16::try_from(at(challenge, "/memory_kib").as_u64()?).ok()?,
        },
    };
    let bits = u32::try_from(at(challenge, "/difficulty").as_u64()?).ok()?;
    (0..1u64 << 32).find(|c| leading_zero_bits(&work_hash(work, token, *c)) >= bits)
}

/// Sends a request; if challenged, solves the challenge, keeps the pass and sends it again.
async fn polite_send(
    c: &mut Conn,
    pass: &mut Option<String>,
    solved: &mut u64,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, String, u64)> {
    for _ in 0..2 {
        let headers: Vec<(&str, &str)> = pass
            .as_deref()
            .map(|p| vec![("x-gatehouse-pass", p)])
            .unwrap_or_default();
        let t = Instant::now();
        let r = c
            .send_with(method.clone(), path, Some(token), body, &headers)
            .await?;
        let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        if r.status == 403 && r.code() == "challenge_required" {
            let challenge = at(&r.json()?, "/challenge").clone();
            let counter = solve(&challenge).ok_or_else(|| anyhow::anyhow!("unsolvable"))?;
            let answer = json!({"token": at(&challenge, "/token"), "sale": at(&challenge, "/sale"), "counter": counter});
            let a = c
                .send(
                    Method::POST,
                    "/.gatehouse/challenge",
                    Some(token),
                    Some(&answer),
                )
                .await?;
            anyhow::ensure!(a.status == 200, "challenge answer refused: {}", a.status);
            *pass = at(&a.json()?, "/pass").as_str().map(str::to_owned);
            *solved += 1;
            continue;
        }
        return Ok((r.status, r.code().to_owned(), us));
    }
    Ok((403, "challenge_required".into(), 0))
}

#[allow(clippy::too_many_arguments)]
async fn polite_phase(
    addr: &str,
    tokens: &[String],
    slot: i64,
    tt: i64,
    secs: f64,
    next_id: Arc<AtomicU64>,
    seed: u64,
) -> anyhow::Result<Polite> {
    let out = Arc::new(Mutex::new(Polite::default()));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (addr, token, out, next_id) =
            (addr.to_owned(), token.clone(), out.clone(), next_id.clone());
        tasks.push(tokio::spawn(async move {
            // Each visitor on a network of its own, as a city's visitors are.
            let (a, b) = ((i % 250 + 1) as u8, (i / 250 + 1) as u8);
            let mut c = Conn::open_from(&addr, std::net::Ipv4Addr::new(127, 2, a, b).into()).await?;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + i as u64);
            let mut pass = None;
            let mut solved = 0;
            // Start spread over the first second, as people do.
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1_000))).await;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let booking = n.is_multiple_of(8);
                let (status, code, us) = if booking {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let body = json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13800000000",
                        "tickets": [{"ticket_type_id": tt, "visitor": {"name": "游客", "id_type": "resident_id",
                        "id_number": synthetic_resident_id(u32::try_from(id).unwrap_or(u32::MAX))}}]});
                    polite_send(&mut c, &mut pass, &mut solved, Method::POST, "/api/v1/orders", &token, Some(&body)).await?
                } else {
                    polite_send(&mut c, &mut pass, &mut solved, Method::GET, &format!("/api/v1/slots/{slot}"), &token, None).await?
                };
                {
                    let mut o = out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if (200..300).contains(&status) {
                        o.ok += 1;
                        if booking {
                            o.booking_us.push(us);
                        } else {
                            o.browse_us.push(us);
                        }
                    } else {
                        *o.failed.entry(format!("{status} {code}")).or_default() += 1;
                    }
                    o.challenges_solved += solved;
                    solved = 0;
                }
                // A person's pace: about one request a second, never regular.
                tokio::time::sleep(Duration::from_millis(rng.gen_range(500..1_500))).await;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let mut polite = std::mem::take(
        &mut *out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    polite.booking_us.sort_unstable();
    polite.browse_us.sort_unstable();
    Ok(polite)
}

fn summary(p: &Polite) -> Value {
    let failed: u64 = p.failed.values().sum();
    json!({
        "requests": p.ok + failed,
        "succeeded_percent": 100.0 * p.ok as f64 / (p.ok + failed).max(1) as f64,
        "failed": p.failed,
        "challenges_solved": p.challenges_solved,
        "bookings": p.booking_us.len(),
        "booking_p50_ms": percentile_ms(&p.booking_us, 50.0),
        "booking_p99_ms": percentile_ms(&p.booking_us, 99.0),
        "browse_p99_ms": percentile_ms(&p.browse_us, 99.0),
    })
}

/// Runs the flood test: `polite` visitors for `secs` alone, then with the flood.
pub async fn flood(polite: usize, secs: f64, flood_connections: usize) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-flood-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let policy_file = dir.join("policy.toml");
    // Open while visitors sign in (they all come from loopback), then the built-in policy.
    std::fs::write(&policy_file, "version = 1\n")?;
    let server = spawn(ServerSetup {
        data_dir: None,
        pg_url: None,
        env: vec![
            (
                "GATEHOUSE_SHIELD__POLICY".into(),
                policy_file.display().to_string(),
            ),
            ("GATEHOUSE_SHIELD__RELOAD_SECS".into(), "1".into()),
        ],
    })
    .await?;
    let addr = server.addr.clone();
    let admin = server.admin_token.clone();
    let mut c = Conn::open(&addr).await?;
    let (slot, tt) = product_tomorrow(
        &mut c,
        &admin,
        json!({"kind": "entry", "name": "flood bench", "rules": {"open_days_before": 30, "id_limit_per_day": 1, "max_orders_per_account_per_day": 50}}),
        json!({"name": "individual", "price_fen": 0}),
        json!({"start": "09:00", "end": "17:00", "capacity": 1_000_000}),
    )
    .await?;
    let tokens = crate::signin::sign_in_visitors(&addr, &admin, polite + 1, 900_000).await?;
    let (flooder_token, polite_tokens) = tokens
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no visitors"))?;
    std::fs::write(
        &policy_file,
        DEFAULT_POLICY.replacen("version = 1", "version = 2", 1),
    )?;
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let next_id = Arc::new(AtomicU64::new(1));
    let alone = polite_phase(&addr, polite_tokens, slot, tt, secs, next_id.clone(), 1).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let flood_counts: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut flooders = Vec::new();
    for _ in 0..flood_connections {
        let (addr, token, stop, counts, next_id) = (
            addr.clone(),
            flooder_token.clone(),
            stop.clone(),
            flood_counts.clone(),
            next_id.clone(),
        );
        flooders.push(tokio::spawn(async move {
            let mut c = Conn::open_from(&addr, std::net::Ipv4Addr::new(127, 9, 9, 9).into()).await?;
            let mut local: HashMap<String, u64> = HashMap::new();
            while !stop.load(Ordering::Relaxed) {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let body = json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13800000000",
                    "tickets": [{"ticket_type_id": tt, "visitor": {"name": "黄牛", "id_type": "resident_id",
                    "id_number": synthetic_resident_id(u32::try_from(id).unwrap_or(u32::MAX))}}]});
                let r = c.send(Method::POST, "/api/v1/orders", Some(&token), Some(&body)).await?;
                let answer = if (200..300).contains(&r.status) {
                    r.status.to_string()
                } else {
                    format!("{} {}", r.status, r.code())
                };
                *local.entry(answer).or_default() += 1;
            }
            let mut counts = counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (k, v) in local {
                *counts.entry(k).or_default() += v;
            }
            anyhow::Ok(())
        }));
    }
    let flood_started = Instant::now();
    let loaded = polite_phase(&addr, polite_tokens, slot, tt, secs, next_id, 2).await?;
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.await??;
    }
    let flood_secs = flood_started.elapsed().as_secs_f64();
    let counts = flood_counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let flood_total: u64 = counts.values().sum();
    let reached_booking: u64 = counts
        .iter()
        .filter(|(k, _)| !(k.starts_with("429") || k.starts_with("403") || k.starts_with("503")))
        .map(|(_, v)| v)
        .sum();
    // Staff read the events as anyone does during cleaning: answering a challenge if asked.
    let events = {
        let mut c = Conn::open_from(&addr, std::net::Ipv4Addr::new(127, 3, 0, 1).into()).await?;
        let (mut pass, mut solved) = (None, 0);
        let (status, _, _) = polite_send(
            &mut c,
            &mut pass,
            &mut solved,
            Method::GET,
            "/api/v1/admin/security-events?limit=200",
            &admin,
            None,
        )
        .await?;
        anyhow::ensure!(status == 200, "security events: {status}");
        c.send_with(
            Method::GET,
            "/api/v1/admin/security-events",
            Some(&admin),
            None,
            &pass
                .as_deref()
                .map(|p| vec![("x-gatehouse-pass", p)])
                .unwrap_or_default(),
        )
        .await?
        .json()
        .unwrap_or(Value::Null)
    };
    let cleaning_events: Vec<Value> = at(&events, "/events")
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| {
                    at(e, "/kind")
                        .as_str()
                        .is_some_and(|k| k.starts_with("ddos_"))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    drop(server);
    let p99 = |p: &Polite| percentile_ms(&p.booking_us, 99.0);
    Ok(json!({
        "polite_clients": polite,
        "seconds_per_phase": secs,
        "unloaded": summary(&alone),
        "under_flood": summary(&loaded),
        "booking_p99_ratio_flood_to_unloaded": p99(&loaded) / p99(&alone).max(0.001),
        "flood": {
            "connections": flood_connections,
            "requests": flood_total,
            "per_sec": flood_total as f64 / flood_secs,
            "answers": counts,
            "reached_booking_logic": reached_booking,
        },
        "cleaning_events": cleaning_events,
    }))
}
