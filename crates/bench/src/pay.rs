//! `gatehouse bench pay`: what paying costs. A local WeChat Pay runs in this process; the server
//! (a child process) is configured to use it. Setup books orders and creates their payments
//! (server → provider over HTTP), the provider marks them paid and signs one notification each.
//! Then:
//! - throughput: every notification is posted at once over many connections; each is verified
//!   (RSA signature, AES-GCM resource) and applied (order confirmed, charge written, group
//!   commit) before its 204 — notifications applied per second;
//! - latency: one visitor at a time pays an order; the pay → confirmed path is the server's
//!   share of it: `POST /pay` (which creates the payment at the provider) plus the notification's
//!   application, without the visitor's time in WeChat or the provider's own signing.
//!
//! Afterwards every order is read back: each must be confirmed exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use gatehouse_domain::identity::synthetic_resident_id;
use gatehouse_providers::courier::{Delivery, Outgoing};
use gatehouse_providers::wechatpay_fake::{FakeWeChatPay, FakeWeChatPayKeys};
use gatehouse_providers::FakeServer;
use hyper::Method;
use serde_json::json;

use crate::client::Conn;
use crate::server::{cpu_seconds, spawn, ServerSetup};
use crate::setup::{at, percentile_ms, product_tomorrow};
use crate::signin::sign_in_visitors;

#[derive(Debug, Clone, clap::Args)]
pub struct PayArgs {
    /// Notifications in the throughput phase (one paid order each).
    #[arg(long, default_value_t = 6_000)]
    pub orders: usize,
    /// Orders paid one at a time in the latency phase.
    #[arg(long, default_value_t = 300)]
    pub latency_samples: usize,
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Start the server on PostgreSQL at this URL (a fresh schema) instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
}

const ORDERS_PER_VISITOR: usize = 50;
const NOTIFY: &str = "/api/v1/payments/notify/wechat_pay";

/// One line of base64 DER from a PEM key: environment variables carry it without newlines.
fn one_line(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// The `GATEHOUSE_PAYMENTS__…` settings of a server whose WeChat Pay is the local one at `url`.
/// Notifications are delivered by the caller, so the server's public URL is a placeholder.
pub fn wechat_pay_env(k: &FakeWeChatPayKeys, url: &str) -> Vec<(String, String)> {
    [
        ("GATEHOUSE_PAYMENTS__MODE", "providers".to_owned()),
        (
            "GATEHOUSE_PAYMENTS__PUBLIC_URL",
            "http://127.0.0.1:9".to_owned(),
        ),
        ("GATEHOUSE_PAYMENTS__WECHAT_PAY__BASE_URL", url.to_owned()),
        ("GATEHOUSE_PAYMENTS__WECHAT_PAY__MCHID", k.mchid.clone()),
        ("GATEHOUSE_PAYMENTS__WECHAT_PAY__APPID", k.appid.clone()),
        (
            "GATEHOUSE_PAYMENTS__WECHAT_PAY__MERCHANT_SERIAL",
            k.merchant_serial.clone(),
        ),
        (
            "GATEHOUSE_PAYMENTS__WECHAT_PAY__MERCHANT_PRIVATE_KEY",
            one_line(&k.merchant_private_key),
        ),
        (
            "GATEHOUSE_PAYMENTS__WECHAT_PAY__API_V3_KEY",
            k.api_v3_key.clone(),
        ),
        (
            "GATEHOUSE_PAYMENTS__WECHAT_PAY__PLATFORM_SERIAL",
            k.platform_serial.clone(),
        ),
        (
            "GATEHOUSE_PAYMENTS__WECHAT_PAY__PLATFORM_PUBLIC_KEY",
            one_line(&k.platform_public_key),
        ),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b))
    .collect()
}

async fn catalogue(addr: &str, admin: &str, capacity: usize) -> anyhow::Result<(i64, i64)> {
    let mut c = Conn::open(addr).await?;
    product_tomorrow(
        &mut c,
        admin,
        json!({"kind": "entry", "name": "pay bench", "rules": {"open_days_before": 30, "max_orders_per_account_per_day": ORDERS_PER_VISITOR, "hold_minutes": 60}}),
        json!({"name": "adult", "price_fen": 6000}),
        json!({"start": "09:00", "end": "17:00", "capacity": capacity}),
    )
    .await
}

/// Books order `i` for one of the visitors; returns its id.
async fn book(c: &mut Conn, token: &str, slot: i64, tt: i64, i: usize) -> anyhow::Result<String> {
    let body = json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13812345678",
        "tickets": [{"ticket_type_id": tt, "visitor": {"name": "张三", "id_type": "resident_id", "id_number": synthetic_resident_id(u32::try_from(i)?)}}]});
    let r = c
        .send(Method::POST, "/api/v1/orders", Some(token), Some(&body))
        .await?;
    anyhow::ensure!(
        r.status == 201,
        "booking answered {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    Ok(at(&r.json()?, "/id")
        .as_str()
        .context("order id")?
        .to_owned())
}

/// Creates the order's payment; returns our payment id (the provider's `out_trade_no`).
async fn start_paying(c: &mut Conn, token: &str, order: &str) -> anyhow::Result<String> {
    let r = c
        .send(
            Method::POST,
            &format!("/api/v1/orders/{order}/pay"),
            Some(token),
            Some(&json!({"channel": "wechat_jsapi", "payer": "oBench0penid"})),
        )
        .await?;
    anyhow::ensure!(
        r.status == 200,
        "pay answered {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    Ok(at(&r.json()?, "/payment/id")
        .as_str()
        .context("payment id")?
        .to_owned())
}

async fn notify(c: &mut Conn, n: &Outgoing) -> anyhow::Result<u16> {
    Ok(
        c.post_with_headers(NOTIFY, n.content_type, &n.headers, n.body.clone())
            .await?
            .status,
    )
}

pub async fn run(args: PayArgs) -> anyhow::Result<serde_json::Value> {
    let fake = FakeWeChatPay::new(
        FakeWeChatPayKeys::generate()?,
        Arc::new(gatehouse_domain::SystemClock),
    )?;
    // The benchmark delivers the notifications itself, so it can time them.
    fake.set_delivery(Delivery::Silent);
    let fake_server = FakeServer::start(fake.router()).await?;
    fake.set_base_url(&fake_server.url(""));
    let env = wechat_pay_env(fake.keys(), &fake_server.url(""));
    let server = spawn(ServerSetup {
        data_dir: None,
        pg_url: args.postgres.clone(),
        env,
    })
    .await?;
    let addr = server.addr.clone();
    let admin = server.admin_token.clone();
    let total = args.orders + args.latency_samples;
    let (slot, tt) = catalogue(&addr, &admin, total + 10).await?;
    let tokens =
        Arc::new(sign_in_visitors(&addr, &admin, total.div_ceil(ORDERS_PER_VISITOR), 0).await?);

    // Setup: book and start paying `orders` orders over 32 connections.
    let setup_started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (addr, tokens, next) = (addr.clone(), tokens.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await?;
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= args.orders {
                    break;
                }
                let token = tokens.get(i / ORDERS_PER_VISITOR).context("visitor")?;
                let order = book(&mut c, token, slot, tt, i).await?;
                let payment = start_paying(&mut c, token, &order).await?;
                out.push((i, order, payment));
            }
            anyhow::Ok(out)
        }));
    }
    let mut paid = Vec::with_capacity(args.orders);
    for t in tasks {
        paid.extend(t.await??);
    }
    // The provider marks each paid and signs its notification (RSA signing on both cores).
    let mut signed = Vec::with_capacity(paid.len());
    for (_, _, payment) in &paid {
        fake.pay(payment).await.map_err(anyhow::Error::msg)?;
    }
    let chunks: Vec<Vec<String>> = paid
        .chunks(paid.len().div_ceil(2).max(1))
        .map(|c| c.iter().map(|(_, _, p)| p.clone()).collect())
        .collect();
    let mut signers = Vec::new();
    for chunk in chunks {
        let fake = fake.clone();
        signers.push(tokio::task::spawn_blocking(move || {
            chunk
                .iter()
                .filter_map(|p| fake.paid_notification(p, None))
                .collect::<Vec<_>>()
        }));
    }
    for s in signers {
        signed.extend(s.await?);
    }
    anyhow::ensure!(
        signed.len() == paid.len(),
        "a notification could not be signed"
    );
    let setup_secs = setup_started.elapsed().as_secs_f64();

    // Throughput.
    let signed = Arc::new(signed);
    let next = Arc::new(AtomicUsize::new(0));
    let pid = server.child.id().map(|p| p.to_string()).unwrap_or_default();
    let cpu_before = cpu_seconds(&pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (addr, signed, next) = (addr.clone(), signed.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await?;
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(n) = signed.get(i) else { break };
                let t = Instant::now();
                if notify(&mut c, n).await? != 204 {
                    failed += 1;
                }
                latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            anyhow::Ok((latencies, failed))
        }));
    }
    let mut notify_us = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await??;
        notify_us.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(&pid).zip(cpu_before).map(|(a, b)| a - b);
    notify_us.sort_unstable();

    // Every order paid must be confirmed, once.
    let mut confirmed = 0usize;
    {
        let mut c = Conn::open(&addr).await?;
        for (i, order, _) in &paid {
            let token = tokens.get(i / ORDERS_PER_VISITOR).context("visitor")?;
            let r = c
                .send(
                    Method::GET,
                    &format!("/api/v1/orders/{order}/payments"),
                    Some(token),
                    None,
                )
                .await?;
            let money = r.json()?;
            let charges = at(&money, "/ledger")
                .as_array()
                .map_or(0, |l| l.iter().filter(|m| m["kind"] == "charge").count());
            let state = c
                .send(
                    Method::GET,
                    &format!("/api/v1/orders/{order}"),
                    Some(token),
                    None,
                )
                .await?
                .json()?;
            if charges == 1 && at(&state, "/state") == "confirmed" {
                confirmed += 1;
            }
        }
    }

    // Latency: one at a time, pay → confirmed.
    let mut c = Conn::open(&addr).await?;
    let mut pay_us = Vec::with_capacity(args.latency_samples);
    let mut path_us = Vec::with_capacity(args.latency_samples);
    for j in 0..args.latency_samples {
        let i = args.orders + j;
        let token = tokens.get(i / ORDERS_PER_VISITOR).context("visitor")?;
        let order = book(&mut c, token, slot, tt, i).await?;
        let t = Instant::now();
        let payment = start_paying(&mut c, token, &order).await?;
        let pay = t.elapsed();
        fake.pay(&payment).await.map_err(anyhow::Error::msg)?;
        let n = fake
            .paid_notification(&payment, None)
            .context("notification")?;
        let t = Instant::now();
        anyhow::ensure!(
            notify(&mut c, &n).await? == 204,
            "latency notification refused"
        );
        let total = pay + t.elapsed();
        pay_us.push(u64::try_from(pay.as_micros()).unwrap_or(u64::MAX));
        path_us.push(u64::try_from(total.as_micros()).unwrap_or(u64::MAX));
    }
    pay_us.sort_unstable();
    path_us.sort_unstable();

    Ok(json!({
        "bench": "pay",
        "database": if args.postgres.is_some() { "postgresql" } else { "sqlite" },
        "provider": "wechat_pay (local fake, HTTP)",
        "notifications": signed.len(),
        "connections": args.connections,
        "notifications_applied_per_sec": (signed.len() - failed) as f64 / elapsed,
        "refused": failed,
        "orders_confirmed_once": confirmed,
        "notify_p50_ms": percentile_ms(&notify_us, 50.0),
        "notify_p99_ms": percentile_ms(&notify_us, 99.0),
        "server_cpu_ms_per_notification": cpu.map(|c| c * 1000.0 / signed.len().max(1) as f64),
        "latency_samples": args.latency_samples,
        "pay_request_p50_ms": percentile_ms(&pay_us, 50.0),
        "pay_request_p99_ms": percentile_ms(&pay_us, 99.0),
        "pay_to_confirmed_p50_ms": percentile_ms(&path_us, 50.0),
        "pay_to_confirmed_p99_ms": percentile_ms(&path_us, 99.0),
        "setup_secs": setup_secs,
    }))
}
