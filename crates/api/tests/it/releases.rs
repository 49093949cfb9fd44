//! Protected releases through the real router: staff protect a product's day (its opening from
//! the product's rules, the pre-queue before it), once; bad settings are refused beside their
//! field; anyone reads the commitment to the seed, and the seed itself only once the release
//! opened — and it keeps the promise.

use super::*;
use jiff::SignedDuration;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn staff_protect_a_day_and_its_seed_is_committed_before_and_revealed_after() {
    let a = api().await;
    // The harness's clock is 2026-11-23 09:00 in Beijing; entry opens 2 days ahead at 09:00.
    let body = json!({"product_id": a.product, "date": "2026-11-27", "prequeue_minutes": 20, "window_minutes": 5});
    let (s, refused) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.visitor),
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{refused}");
    let (s, r) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.admin),
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["opens_at"], "2026-11-25T01:00:00Z", "{r}");
    assert_eq!(r["prequeue_opens_at"], "2026-11-25T00:40:00Z");
    assert_eq!(r["window_minutes"], 5);
    assert!(r["seed"].is_null(), "secret until the opening");
    let commitment = r["seed_commitment"].as_str().unwrap().to_owned();
    assert_eq!(commitment.len(), 64);
    let (s, again) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.admin),
        Some(body),
    )
    .await;
    assert_eq!(
        (s, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_protected"))
    );

    for (bad, field) in [
        (
            json!({"product_id": a.product, "date": "2026-11-28", "window_minutes": 0}),
            "window_minutes",
        ),
        (
            json!({"product_id": a.product, "date": "2026-11-28", "prequeue_minutes": 0}),
            "prequeue_minutes",
        ),
        (
            json!({"product_id": a.product, "date": "2026-11-24"}),
            "date",
        ),
        (json!({"product_id": a.product, "date": "tomorrow"}), "date"),
    ] {
        let (s, e) = call(
            &a.app,
            "POST",
            "/api/v1/admin/releases",
            Some(&a.admin),
            Some(bad),
        )
        .await;
        assert_eq!(
            (s, e["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{e}"
        );
    }
    let (s, _) = call(
        &a.app,
        "POST",
        "/api/v1/admin/releases",
        Some(&a.admin),
        Some(json!({"product_id": 999_999, "date": "2026-11-28"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, list) = call(&a.app, "GET", "/api/v1/releases", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0]["seed"].is_null());
    // Once it opened, the seed is public and keeps the promise.
    a.clock.advance(SignedDuration::from_hours(48));
    let (_, list) = call(&a.app, "GET", "/api/v1/releases", None, None).await;
    let seed = hex::decode(list[0]["seed"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&seed)), commitment);
}
