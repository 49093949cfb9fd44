//! The online half of `gatehouse bench gate`: a real server (SQLite by default) with the day's
//! tickets sold; registered gate devices scan every ticket over many connections at once and
//! each admission is answered only after it committed. Then every ticket is scanned again (all
//! must be refused as already used), and the server is killed with SIGKILL and started again:
//! every admitted ticket must still be checked in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use gatehouse_domain::identity::synthetic_resident_id;
use hyper::Method;
use serde_json::json;

use crate::client::Conn;
use crate::server::{cpu_seconds, spawn, ServerSetup, Spawned};
use crate::setup::{at, percentile_ms, product_tomorrow, tomorrow};
use crate::signin::sign_in_visitors;

/// Tickets per order (the most one order may carry).
const PER_ORDER: usize = 50;

/// A product whose slot tomorrow admits from now on (the server runs with two days' early
/// entry), and `tickets` tickets sold for it. Returns the slot, its day and the codes.
async fn sell(server: &Spawned, tickets: usize) -> anyhow::Result<(i64, String, Vec<String>)> {
    let (addr, admin) = (&server.addr, &server.admin_token);
    let mut c = Conn::open(addr).await?;
    let (slot, tt) = product_tomorrow(
        &mut c,
        admin,
        json!({"kind": "entry", "name": "gate bench", "rules": {"open_days_before": 30, "max_visitors_per_order": PER_ORDER, "max_orders_per_account_per_day": 50}}),
        json!({"name": "free", "price_fen": 0}),
        json!({"start": "09:00", "end": "17:00", "capacity": tickets}),
    )
    .await?;
    let orders = tickets.div_ceil(PER_ORDER);
    let visitors = orders.div_ceil(50);
    let tokens = sign_in_visitors(addr, admin, visitors, 5_000_000).await?;
    let mut codes = Vec::with_capacity(tickets);
    for o in 0..orders {
        let people = PER_ORDER.min(tickets - o * PER_ORDER);
        let list: Vec<serde_json::Value> = (0..people)
            .map(|p| {
                let n = u32::try_from(o * PER_ORDER + p).unwrap_or(u32::MAX);
                json!({"ticket_type_id": tt, "visitor": {"name": "张三", "id_type": "resident_id", "id_number": synthetic_resident_id(n)}})
            })
            .collect();
        let body = json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13812345678", "tickets": list});
        let token = tokens.get(o / 50).context("visitor")?;
        let r = c
            .send(Method::POST, "/api/v1/orders", Some(token), Some(&body))
            .await?;
        anyhow::ensure!(
            r.status == 201,
            "booking answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let order = r.json()?;
        for t in at(&order, "/tickets").as_array().context("tickets")? {
            codes.push(
                at(t, "/code")
                    .as_str()
                    .context("a valid ticket without a code")?
                    .to_owned(),
            );
        }
    }
    Ok((slot, tomorrow()?.to_string(), codes))
}

/// Scans every code once over `connections` connections, spread over the devices. Returns
/// (admitted, refused-as-used, other answers, latencies in µs, seconds).
async fn scan_all(
    addr: &str,
    devices: &Arc<Vec<String>>,
    codes: &Arc<Vec<String>>,
    connections: usize,
) -> anyhow::Result<(usize, usize, usize, Vec<u64>, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..connections.max(1) {
        let (addr, devices, codes, next) = (
            addr.to_owned(),
            devices.clone(),
            codes.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await?;
            let device = devices
                .get(conn % devices.len().max(1))
                .context("device")?
                .clone();
            let (mut ok, mut used, mut other, mut lat) = (0, 0, 0, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(code) = codes.get(i) else { break };
                let t = Instant::now();
                let r = c
                    .send(
                        Method::POST,
                        "/api/v1/gate/scan",
                        Some(&device),
                        Some(&json!({ "code": code })),
                    )
                    .await?;
                lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                match (r.status, r.code()) {
                    (200, _) => ok += 1,
                    (409, "already_used") => used += 1,
                    _ => other += 1,
                }
            }
            anyhow::Ok((ok, used, other, lat))
        }));
    }
    let (mut ok, mut used, mut other, mut lat) = (0, 0, 0, Vec::new());
    for t in tasks {
        let (o, u, x, l) = t.await??;
        ok += o;
        used += u;
        other += x;
        lat.extend(l);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    Ok((ok, used, other, lat, secs))
}

async fn checked_in(server: &Spawned, day: &str, slot: i64) -> anyhow::Result<u64> {
    let mut c = Conn::open(&server.addr).await?;
    let counts = c
        .send(
            Method::GET,
            &format!("/api/v1/admin/check-ins?date={day}"),
            Some(&server.admin_token),
            None,
        )
        .await?
        .json()?;
    at(&counts, "/slots")
        .as_array()
        .and_then(|slots| slots.iter().find(|s| at(s, "/slot").as_i64() == Some(slot)))
        .and_then(|s| at(s, "/checked_in").as_u64())
        .context("no counts for the slot")
}

pub async fn run(
    tickets: usize,
    connections: usize,
    devices: usize,
    postgres: Option<String>,
) -> anyhow::Result<serde_json::Value> {
    let mut server = spawn(ServerSetup {
        data_dir: None,
        pg_url: postgres.clone(),
        env: vec![(
            "GATEHOUSE_TICKETS__EARLY_ENTRY_MINUTES".into(),
            "2880".into(),
        )],
    })
    .await?;
    let (slot, day, codes) = sell(&server, tickets).await?;
    let mut tokens = Vec::new();
    {
        let mut c = Conn::open(&server.addr).await?;
        for g in 0..devices.max(1) {
            let r = c
                .send(
                    Method::POST,
                    "/api/v1/admin/gates",
                    Some(&server.admin_token),
                    Some(&json!({"name": format!("gate {g}")})),
                )
                .await?;
            anyhow::ensure!(r.status == 201, "registering a gate answered {}", r.status);
            tokens.push(
                at(&r.json()?, "/token")
                    .as_str()
                    .context("device token")?
                    .to_owned(),
            );
        }
    }
    let (devices, codes) = (Arc::new(tokens), Arc::new(codes));
    let pid = server.child.id().map(|p| p.to_string()).unwrap_or_default();
    let cpu_before = cpu_seconds(&pid);
    let (admitted, used, other, lat, secs) =
        scan_all(&server.addr, &devices, &codes, connections).await?;
    let cpu = cpu_seconds(&pid).zip(cpu_before).map(|(a, b)| a - b);
    anyhow::ensure!(
        admitted == codes.len() && other == 0,
        "{admitted} of {} admitted, {used} already used, {other} other answers",
        codes.len()
    );
    // A second pass: every ticket is now used.
    let (again, used_again, other_again, _, _) =
        scan_all(&server.addr, &devices, &codes, connections).await?;
    anyhow::ensure!(
        again == 0 && used_again == codes.len() && other_again == 0,
        "second pass: {again} admitted again, {used_again} refused as used"
    );
    // Each admission was durable when answered: SIGKILL, restart, count.
    server.restart().await?;
    let survived = checked_in(&server, &day, slot).await?;
    anyhow::ensure!(
        survived == codes.len() as u64,
        "{survived} check-ins survived SIGKILL of {}",
        codes.len()
    );
    Ok(json!({
        "database": if postgres.is_some() { "postgresql" } else { "sqlite" },
        "tickets": codes.len(),
        "connections": connections,
        "devices": devices.len(),
        "online_check_ins_per_sec": admitted as f64 / secs,
        "online_check_in_p50_ms": percentile_ms(&lat, 50.0),
        "online_check_in_p99_ms": percentile_ms(&lat, 99.0),
        "server_cpu_ms_per_check_in": cpu.map(|c| c * 1e3 / admitted as f64),
        "second_scans_refused_as_used": used_again,
        "check_ins_after_sigkill": survived,
    }))
}
