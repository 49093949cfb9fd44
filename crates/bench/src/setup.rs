//! What several benchmarks share: reading fields out of JSON answers, latency percentiles, and
//! a product with one ticket type, a notice and a slot tomorrow, made through the staff API.

use anyhow::Context;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::Conn;

/// A field of a JSON answer (a JSON pointer such as `/tickets/0/code`), or null.
pub fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    v.pointer(path).unwrap_or(&Value::Null)
}

/// The `percent`-th percentile of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], percent: f64) -> f64 {
    percentile(sorted_us, percent) as f64 / 1000.0
}

/// The `percent` percentile of sorted samples (nearest rank; 0 when there are none).
pub fn percentile(sorted: &[u64], percent: f64) -> u64 {
    let rank = ((percent / 100.0) * sorted.len().saturating_sub(1) as f64).round() as usize;
    sorted.get(rank).copied().unwrap_or(0)
}

/// The museum's tomorrow.
pub fn tomorrow() -> anyhow::Result<jiff::civil::Date> {
    Ok(gatehouse_domain::Clock::now(&gatehouse_domain::SystemClock)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai")?)
        .date()
        .tomorrow()?)
}

/// Creates a product from `product`, one ticket type from `ticket_type`, a notice (version 1)
/// and one slot tomorrow from `slot` (start, end, capacity). Returns (slot id, ticket type id).
pub async fn product_tomorrow(
    c: &mut Conn,
    admin: &str,
    product: Value,
    ticket_type: Value,
    mut slot: Value,
) -> anyhow::Result<(i64, i64)> {
    if let Some(fields) = slot.as_object_mut() {
        fields.insert("date".into(), json!(tomorrow()?.to_string()));
    }
    let (_, slot, tt) = product_with_slot(c, admin, product, ticket_type, slot).await?;
    Ok((slot, tt))
}

/// Creates a product from `product`, one ticket type from `ticket_type`, a notice (version 1)
/// and one slot from `slot` (date, start, end, capacity). Returns (product id, slot id, ticket
/// type id).
pub async fn product_with_slot(
    c: &mut Conn,
    admin: &str,
    product: Value,
    ticket_type: Value,
    slot: Value,
) -> anyhow::Result<(i64, i64, i64)> {
    let created = |r: &crate::client::Reply, what: &str| -> anyhow::Result<i64> {
        anyhow::ensure!(
            r.status == 201,
            "{what}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        at(&r.json()?, "/id")
            .as_i64()
            .with_context(|| format!("{what} id"))
    };
    let r = c
        .send(
            Method::POST,
            "/api/v1/admin/products",
            Some(admin),
            Some(&product),
        )
        .await?;
    let product = created(&r, "product")?;
    let r = c
        .send(
            Method::POST,
            &format!("/api/v1/admin/products/{product}/ticket-types"),
            Some(admin),
            Some(&ticket_type),
        )
        .await?;
    let tt = created(&r, "ticket type")?;
    let r = c
        .send(
            Method::POST,
            &format!("/api/v1/admin/products/{product}/notices"),
            Some(admin),
            Some(&json!({"text": "bench notice"})),
        )
        .await?;
    anyhow::ensure!(
        r.status == 201,
        "notice: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let r = c
        .send(
            Method::POST,
            &format!("/api/v1/admin/products/{product}/slots"),
            Some(admin),
            Some(&slot),
        )
        .await?;
    Ok((product, created(&r, "slot")?, tt))
}
