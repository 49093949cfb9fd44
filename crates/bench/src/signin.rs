//! Visitors sign in the way they do in production: a code texted to their phone (read from the
//! local SMS provider's outbox, which only the benchmark needs), then the sign-in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use hyper::Method;
use serde_json::json;

use crate::client::Conn;

/// The `n`-th benchmark phone (distinct mainland mobile numbers from `offset`).
pub fn phone(n: usize) -> String {
    format!("139{:08}", n % 100_000_000)
}

/// One visitor's sign-in: send the code, read it, sign in. Returns the session token.
pub async fn sign_in(c: &mut Conn, admin: &str, phone: &str) -> anyhow::Result<String> {
    let r = c
        .send(
            Method::POST,
            "/api/v1/auth/phone/code",
            None,
            Some(&json!({"phone": phone})),
        )
        .await?;
    anyhow::ensure!(r.status == 202, "sending a code answered {}", r.status);
    let r = c
        .send(
            Method::GET,
            &format!("/api/v1/admin/sms-outbox?phone={phone}"),
            Some(admin),
            None,
        )
        .await?;
    anyhow::ensure!(r.status == 200, "reading the outbox answered {}", r.status);
    let outbox = r.json()?;
    let text = outbox
        .get("messages")
        .and_then(|m| m.as_array())
        .and_then(|m| m.last())
        .and_then(|m| m.get("text"))
        .and_then(serde_json::Value::as_str)
        .context("no text message for the phone")?;
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    let r = c
        .send(
            Method::POST,
            "/api/v1/auth/phone/sign-in",
            None,
            Some(&json!({"phone": phone, "code": code})),
        )
        .await?;
    anyhow::ensure!(r.status == 200, "signing in answered {}", r.status);
    Ok(r.json()?
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .context("no access token")?
        .to_owned())
}

/// Signs `n` visitors in over 32 connections; returns their tokens and the seconds it took.
pub async fn sign_in_visitors(
    addr: &str,
    admin: &str,
    n: usize,
    offset: usize,
) -> anyhow::Result<Vec<String>> {
    Ok(timed_sign_ins(addr, admin, n, offset).await?.0)
}

pub async fn timed_sign_ins(
    addr: &str,
    admin: &str,
    n: usize,
    offset: usize,
) -> anyhow::Result<(Vec<String>, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (addr, admin, next) = (addr.to_owned(), admin.to_owned(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await?;
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                out.push(sign_in(&mut c, &admin, &phone(offset + i)).await?);
            }
            anyhow::Ok(out)
        }));
    }
    let mut tokens = Vec::with_capacity(n);
    for t in tasks {
        tokens.extend(t.await??);
    }
    Ok((tokens, started.elapsed().as_secs_f64()))
}
