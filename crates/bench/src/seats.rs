//! `gatehouse bench seats`: clients racing for one cinema showing. Each client is its own
//! visitor on its own connection; all wait at a barrier, then book 1–4 seats — half pick seats
//! near the middle (where everyone wants to sit), half ask for the best available — and a
//! client refused a taken seat tries again with the best available, until it has seats or the
//! showing is full. Afterwards every sold seat is checked: none twice, no more than the house,
//! and the server's own seat view agrees. The race is also run by the real-server stress test.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use gatehouse_domain::identity::synthetic_resident_id;
use hyper::Method;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::client::Conn;
use crate::server::{spawn, ServerSetup};
use crate::setup::{at, percentile_ms, product_tomorrow};
use crate::signin::sign_in_visitors;

#[derive(Debug, Clone, clap::Args)]
pub struct SeatsArgs {
    #[arg(long, default_value_t = 2_000)]
    pub clients: usize,
    /// Rows of the theatre (20 seats each, an aisle in the middle).
    #[arg(long, default_value_t = 20)]
    pub rows: usize,
    #[arg(long, default_value_t = 20_261_124)]
    pub seed: u64,
    /// Run on PostgreSQL at this URL (a fresh schema) instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
}

/// What the race produced.
#[derive(Debug, Clone, Default)]
pub struct RaceOutcome {
    pub clients: usize,
    pub house: usize,
    pub attempts: usize,
    pub orders: usize,
    /// Every seat sold, with how many orders got it (each must be 1).
    pub sold: HashMap<String, usize>,
    pub seat_taken: usize,
    pub sold_out: usize,
    pub other: Vec<String>,
    pub seconds: f64,
    pub latencies_us: Vec<u64>,
    /// Free seats the server reports afterwards.
    pub server_free: i64,
}

impl RaceOutcome {
    pub fn double_sold(&self) -> usize {
        self.sold.values().filter(|n| **n > 1).count()
    }
}

/// Row `r`'s label: A…Z, then AA, AB… (letters, so no two seats share a label).
fn row_label(r: usize) -> String {
    let letter = |i: usize| char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
    if r < 26 {
        letter(r).to_string()
    } else {
        format!("{}{}", letter(r / 26 - 1), letter(r))
    }
}

/// A cinema showing tomorrow in a theatre of `rows` × 20 seats. Returns (slot, ticket type).
pub async fn seated_showing(addr: &str, admin: &str, rows: usize) -> anyhow::Result<(i64, i64)> {
    let mut c = Conn::open(addr).await?;
    let cells: Vec<String> = (1..=20)
        .map(|n| n.to_string())
        .flat_map(|n| {
            if n == "10" {
                vec![n, "_".to_owned()]
            } else {
                vec![n]
            }
        })
        .collect();
    let labels: Vec<String> = (0..rows).map(row_label).collect();
    let map = json!({"rows": labels.iter().map(|l| json!({"label": l, "cells": cells})).collect::<Vec<_>>()});
    let r = c
        .send(
            Method::PUT,
            "/api/v1/admin/seat-maps/bench-hall",
            Some(admin),
            Some(&map),
        )
        .await?;
    anyhow::ensure!(
        r.status == 200,
        "seat map: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    product_tomorrow(
        &mut c,
        admin,
        json!({"kind": "cinema", "name": "seat race", "theatre_type": "bench-hall", "film": "race", "rules": {"open_days_before": 30, "max_visitors_per_order": 4, "id_limit_per_day": 4}}),
        json!({"name": "seat", "price_fen": 0}),
        json!({"start": "19:00", "end": "21:00", "capacity": rows * 20}),
    )
    .await
}

/// Runs the race: `tokens` are the clients (one visitor each).
pub async fn race(
    addr: &str,
    slot: i64,
    tt: i64,
    rows: usize,
    tokens: Vec<String>,
    seed: u64,
) -> anyhow::Result<RaceOutcome> {
    let clients = tokens.len();
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::with_capacity(clients);
    for (i, token) in tokens.into_iter().enumerate() {
        let (addr, barrier) = (addr.to_owned(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i as u64);
            let mut c = Conn::open(&addr).await?;
            let people = rng.gen_range(1..=4usize);
            // Everyone wants the middle: rows around two thirds back, seats near the aisle.
            let mut wanted: Vec<String> = Vec::new();
            if rng.gen_bool(0.5) {
                let row = (rows as f64 * 0.6) as i64 + rng.gen_range(-2..=2i64);
                let row = row.clamp(0, rows as i64 - 1);
                let start = rng.gen_range(6..=(15 - people as i64 + 1).max(6));
                let row = row_label(usize::try_from(row).unwrap_or(0));
                wanted = (0..people as i64).map(|k| format!("{row}{}", start + k)).collect();
            }
            barrier.wait().await;
            let (mut attempts, mut lat, mut taken, mut sold_out) = (0, Vec::new(), 0, 0);
            let mut other = Vec::new();
            let mut got = Vec::new();
            loop {
                let tickets: Vec<Value> = (0..people)
                    .map(|k| {
                        let n = u32::try_from(i * 4 + k).unwrap_or(u32::MAX);
                        let mut t = json!({"ticket_type_id": tt, "visitor": {"name": "观众", "id_type": "resident_id", "id_number": synthetic_resident_id(n)}});
                        if let (Some(seat), Some(t)) = (wanted.get(k), t.as_object_mut()) {
                            t.insert("seat".into(), json!(seat));
                        }
                        t
                    })
                    .collect();
                let body = json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13812345678", "tickets": tickets});
                let t = Instant::now();
                let r = c.send(Method::POST, "/api/v1/orders", Some(&token), Some(&body)).await?;
                lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                attempts += 1;
                match (r.status, r.code()) {
                    (201, _) => {
                        let order = r.json()?;
                        for t in at(&order, "/tickets").as_array().context("tickets")? {
                            got.push(at(t, "/seat").as_str().context("a seated ticket without a seat")?.to_owned());
                        }
                        break;
                    }
                    (409, "seat_taken") => {
                        taken += 1;
                        wanted.clear();
                    }
                    (409, "sold_out" | "no_adjacent_seats") => {
                        sold_out += 1;
                        break;
                    }
                    (s, code) => {
                        other.push(format!("{s} {code}"));
                        break;
                    }
                }
                if attempts > 20 {
                    other.push("gave up after 20 attempts".into());
                    break;
                }
            }
            anyhow::Ok((attempts, lat, taken, sold_out, other, got))
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut out = RaceOutcome {
        clients,
        house: rows * 20,
        ..RaceOutcome::default()
    };
    for t in tasks {
        let (attempts, lat, taken, sold_out, other, got) = t.await??;
        out.attempts += attempts;
        out.latencies_us.extend(lat);
        out.seat_taken += taken;
        out.sold_out += sold_out;
        out.other.extend(other);
        if !got.is_empty() {
            out.orders += 1;
        }
        for seat in got {
            *out.sold.entry(seat).or_default() += 1;
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out.latencies_us.sort_unstable();
    let mut c = Conn::open(addr).await?;
    let view = c
        .send(
            Method::GET,
            &format!("/api/v1/slots/{slot}/seats"),
            None,
            None,
        )
        .await?
        .json()?;
    out.server_free = at(&view, "/free").as_i64().context("free seats")?;
    Ok(out)
}

pub async fn run(args: SeatsArgs) -> anyhow::Result<Value> {
    let server = spawn(ServerSetup {
        data_dir: None,
        pg_url: args.postgres.clone(),
        env: Vec::new(),
    })
    .await?;
    let (slot, tt) = seated_showing(&server.addr, &server.admin_token, args.rows).await?;
    let tokens =
        sign_in_visitors(&server.addr, &server.admin_token, args.clients, 7_000_000).await?;
    let out = race(&server.addr, slot, tt, args.rows, tokens, args.seed).await?;
    let sold: usize = out.sold.len();
    anyhow::ensure!(
        out.double_sold() == 0,
        "{} seats sold twice",
        out.double_sold()
    );
    anyhow::ensure!(
        sold <= out.house,
        "{sold} seats sold in a house of {}",
        out.house
    );
    anyhow::ensure!(
        out.server_free == (out.house - sold) as i64,
        "the server shows {} free, {} sold of {}",
        out.server_free,
        sold,
        out.house
    );
    Ok(json!({
        "bench": "seats",
        "database": if args.postgres.is_some() { "postgresql" } else { "sqlite" },
        "clients": out.clients,
        "house": out.house,
        "attempts": out.attempts,
        "attempts_per_sec": out.attempts as f64 / out.seconds,
        "seconds": out.seconds,
        "p50_ms": percentile_ms(&out.latencies_us, 50.0),
        "p99_ms": percentile_ms(&out.latencies_us, 99.0),
        "orders": out.orders,
        "seats_sold": sold,
        "seats_sold_twice": out.double_sold(),
        "seat_taken_answers": out.seat_taken,
        "sold_out_answers": out.sold_out,
        "server_free_seats": out.server_free,
    }))
}
