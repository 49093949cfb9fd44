//! `gatehouse bench queue --sell`: the protected release end to end. Everyone has joined the
//! pre-queue; at the opening each visitor's page polls its place (sooner as the wait shortens,
//! at most every 3 s, as the waiting page does) and, once admitted, books 1 to `family_max`
//! tickets with its admission until the day sells out. Measured: time from the opening to the
//! last ticket sold and to the last visitor told, the admitted people's booking latency, and
//! the checks — tickets sold equal what the slot lost and never exceed it, and bookings without
//! an admission, with a forged one or with another visitor's are refused.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::Method;
use serde_json::json;

use crate::client::Conn;
use crate::setup::{at, percentile_ms};

/// What the release was set up with.
pub struct Sale {
    pub addr: String,
    pub admin: String,
    pub release: u64,
    pub slot: i64,
    pub ticket_type: i64,
    pub capacity: i64,
    pub opens_in: Duration,
    pub family_max: usize,
    pub connections: usize,
    /// How long to wait for the sell-out before giving up.
    pub deadline: Duration,
}

#[derive(Default)]
struct Outcome {
    booking_us: Vec<u64>,
    answers: BTreeMap<String, u64>,
    tickets: i64,
    polls: u64,
    last_sale: Option<Duration>,
    last_told: Option<Duration>,
    /// One admission that booked, and its visitor (to try it again, and as someone else).
    used: Option<(usize, String)>,
}

fn booking(slot: i64, ticket_type: i64, visitor: usize, family: usize) -> Vec<u8> {
    let tickets: Vec<serde_json::Value> = (0..family)
        .map(|k| {
            let n = u32::try_from(visitor * 8 + k + 1).unwrap_or(u32::MAX);
            json!({"ticket_type_id": ticket_type, "visitor": {"name": "游客", "id_type": "resident_id",
                "id_number": gatehouse_domain::identity::synthetic_resident_id(n)}})
        })
        .collect();
    json!({"slot_id": slot, "notice_version": 1, "contact_phone": "13800000000", "tickets": tickets})
        .to_string()
        .into_bytes()
}

/// One connection's share of the visitors (`mine`: index, session token, poll path).
async fn serve(
    sale: &Sale,
    opened: Instant,
    mut conn: Conn,
    mine: Vec<(usize, String, String)>,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::default();
    let mut next_at: Vec<Option<Instant>> = vec![Some(opened); mine.len()];
    let give_up = opened + sale.deadline;
    while Instant::now() < give_up {
        let now = Instant::now();
        let mut waited = true;
        for ((i, token, path), next) in mine.iter().zip(next_at.iter_mut()) {
            let Some(at_) = *next else { continue };
            waited = false;
            if at_ > now {
                continue;
            }
            let r = conn.send(Method::GET, path, None, None).await?;
            out.polls += 1;
            let place = r.json().unwrap_or_default();
            match at(&place, "/standing").as_str().unwrap_or("") {
                "admitted" => {
                    let admission = at(&place, "/admission_token")
                        .as_str()
                        .context("admitted without a token")?
                        .to_owned();
                    let family = 1 + i % sale.family_max.max(1);
                    let body = booking(sale.slot, sale.ticket_type, *i, family);
                    let t0 = Instant::now();
                    let r = conn
                        .request_with(
                            Method::POST,
                            "/api/v1/orders",
                            Some(token),
                            Some(body),
                            &[("x-gatehouse-admission", admission.as_str())],
                        )
                        .await?;
                    out.booking_us
                        .push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
                    let key = if r.status == 201 {
                        out.tickets += i64::try_from(family).unwrap_or(0);
                        out.used.get_or_insert((*i, admission.clone()));
                        out.last_sale = Some(opened.elapsed());
                        "201".to_owned()
                    } else {
                        r.tally_key()
                    };
                    *out.answers.entry(key).or_default() += 1;
                    *next = None;
                }
                "sold_out" | "done" => {
                    out.last_told = Some(opened.elapsed());
                    *next = None;
                }
                _ => {
                    // The page polls sooner as the wait shortens, at most every 3 s.
                    let wait = at(&place, "/wait_secs").as_f64().unwrap_or(3.0);
                    *next = Some(now + Duration::from_secs_f64((wait / 2.0).clamp(0.25, 3.0)));
                }
            }
        }
        if waited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(out)
}

/// Bookings that must be refused during the release (each answer counted): none, a forged
/// admission, another visitor's, and one already used by its holder.
async fn refusals(
    sale: &Sale,
    tokens: &[String],
    used: Option<(usize, String)>,
) -> anyhow::Result<serde_json::Value> {
    let mut c = Conn::open(&sale.addr)
        .await?
        .with_host("tickets.museum.example");
    let body = booking(sale.slot, sale.ticket_type, 9_999_999, 1);
    let mut answers = BTreeMap::<String, u64>::new();
    let Some((holder, admission)) = used else {
        return Ok(json!({}));
    };
    let holder_token = tokens.get(holder).context("holder")?;
    let other_token = tokens.get((holder + 1) % tokens.len()).context("other")?;
    for (token, admission) in [
        (other_token, None),
        (other_token, Some("gha1.forged.token")),
        (other_token, Some(admission.as_str())),
        (holder_token, Some(admission.as_str())),
    ] {
        let headers: Vec<(&str, &str)> = admission
            .iter()
            .map(|t| ("x-gatehouse-admission", *t))
            .collect();
        let r = c
            .request_with(
                Method::POST,
                "/api/v1/orders",
                Some(token),
                Some(body.clone()),
                &headers,
            )
            .await?;
        *answers.entry(r.tally_key()).or_default() += 1;
    }
    Ok(json!(answers))
}

pub async fn sell(
    sale: Sale,
    tokens: &[String],
    paths: &[String],
) -> anyhow::Result<serde_json::Value> {
    tokio::time::sleep(sale.opens_in).await;
    let opened = Instant::now();
    let connections = sale.connections.max(1);
    let mut shares: Vec<Vec<(usize, String, String)>> = vec![Vec::new(); connections];
    for (i, (token, path)) in tokens.iter().zip(paths).enumerate() {
        if let Some(share) = shares.get_mut(i % connections) {
            share.push((i, token.clone(), path.clone()));
        }
    }
    let sale = std::sync::Arc::new(sale);
    let mut tasks = Vec::new();
    for mine in shares {
        let sale = sale.clone();
        tasks.push(tokio::spawn(async move {
            let conn = Conn::open(&sale.addr)
                .await?
                .with_host("tickets.museum.example");
            serve(&sale, opened, conn, mine).await
        }));
    }
    let mut all = Outcome::default();
    for t in tasks {
        let o = t.await??;
        all.booking_us.extend(o.booking_us);
        for (k, v) in o.answers {
            *all.answers.entry(k).or_default() += v;
        }
        all.tickets += o.tickets;
        all.polls += o.polls;
        all.last_sale = all.last_sale.max(o.last_sale);
        all.last_told = all.last_told.max(o.last_told);
        all.used = all.used.or(o.used);
    }
    let refused = refusals(&sale, tokens, all.used.take()).await?;
    all.booking_us.sort_unstable();
    let mut c = Conn::open(&sale.addr).await?;
    let slot = c
        .send(
            Method::GET,
            &format!("/api/v1/slots/{}", sale.slot),
            None,
            None,
        )
        .await?
        .json()?;
    let remaining = at(&slot, "/remaining").as_i64().context("slot remaining")?;
    let report = c
        .send(
            Method::GET,
            &format!("/api/v1/admin/releases/{}/report", sale.release),
            Some(&sale.admin),
            None,
        )
        .await?
        .json()?;
    anyhow::ensure!(
        all.tickets == sale.capacity - remaining && remaining >= 0,
        "tickets sold {} but the slot lost {}",
        all.tickets,
        sale.capacity - remaining
    );
    Ok(json!({
        "capacity": sale.capacity,
        "tickets_sold": all.tickets,
        "remaining": remaining,
        "oversold": (all.tickets - sale.capacity).max(0),
        "sold_out_after_s": all.last_sale.map(|d| d.as_secs_f64()),
        "everyone_told_after_s": all.last_told.max(all.last_sale).map(|d| d.as_secs_f64()),
        "bookings": {
            "requests": all.booking_us.len(),
            "p50_ms": percentile_ms(&all.booking_us, 50.0),
            "p99_ms": percentile_ms(&all.booking_us, 99.0),
            "answers": all.answers,
        },
        "polls": all.polls,
        "refused_without_valid_admission": refused,
        "fairness": {
            "admitted": report.get("admitted"), "bought": report.get("bought"),
            "abandoned": report.get("abandoned"), "ks_statistic": report.get("ks_statistic"),
            "ks_critical_001": report.get("ks_critical_001"),
        },
    }))
}
