//! Protected releases over HTTP: staff protect a product's day (its opening then passes the
//! waiting room); anyone reads the protected releases with the commitment to each one's seed,
//! and the seed itself once the release has opened, so the order can be re-run by anyone.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::catalogue::ProductId;
use gatehouse_domain::waiting::NewProtectedRelease;
use gatehouse_queue::{PublishedRelease, QueueError};
use jiff::{SignedDuration, ToSpan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::wire::parse_date;
use crate::AppState;

/// A product's day to protect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectRequest {
    pub product_id: i64,
    /// The visiting day (`YYYY-MM-DD`); its booking opens as the product's rules say.
    pub date: String,
    /// How long before the opening the pre-queue opens (default 30, 1 to 1,440).
    pub prequeue_minutes: Option<u32>,
    /// How long an admitted person has to book (default 10, 1 to 60).
    pub window_minutes: Option<u32>,
}

/// A protected release as everyone may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseResponse {
    pub id: u64,
    pub product_id: i64,
    pub date: String,
    pub prequeue_opens_at: String,
    pub opens_at: String,
    pub window_minutes: i64,
    /// `SHA-256(seed)`, hex: published before the opening.
    pub seed_commitment: String,
    /// The seed, hex, once the release has opened: the pre-queue's order re-runs from it.
    pub seed: Option<String>,
}

impl From<PublishedRelease> for ReleaseResponse {
    fn from(p: PublishedRelease) -> Self {
        Self {
            id: p.release.id,
            product_id: p.release.product,
            date: p.release.day.to_string(),
            prequeue_opens_at: p.release.prequeue_opens_at.to_string(),
            opens_at: p.release.opens_at.to_string(),
            window_minutes: p.release.window.as_mins(),
            seed_commitment: p.commitment,
            seed: p.seed,
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Invalid { field, message } => ApiError::field(field, message),
            QueueError::AlreadyProtected => ApiError::Conflict {
                code: "already_protected",
                message: e.to_string(),
            },
            QueueError::Store(s) => {
                tracing::error!(error = %s, "protected releases could not be stored");
                ApiError::Domain(gatehouse_domain::BookingError::Unavailable)
            }
        }
    }
}

/// Protect a product's day: its opening passes the waiting room (pre-queue, a shuffle by a
/// committed seed, admission at the rate booking can serve).
#[utoipa::path(post, path = "/api/v1/admin/releases", tag = "admin", security(("bearer" = ["catalogue_manage"])),
    request_body = ProtectRequest,
    responses((status = 201, body = ReleaseResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn protect(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::CatalogueManage>,
    ApiJson(req): ApiJson<ProtectRequest>,
) -> Result<(StatusCode, Json<ReleaseResponse>), ApiError> {
    let day = parse_date("date", &req.date)?;
    let product = app
        .service
        .product_details(ProductId(req.product_id))
        .await?
        .product;
    let rules = &product.spec.rules;
    let opening_day = day
        .checked_sub(i64::from(rules.open_days_before).days())
        .map_err(|_| ApiError::field("date", "is out of range"))?;
    let opens_at = opening_day
        .to_datetime(rules.open_at)
        .to_zoned(app.service.museum_tz().clone())
        .map_err(|_| ApiError::field("date", "is out of range"))?
        .timestamp();
    let minutes = |v: Option<u32>, default: u32| i64::from(v.unwrap_or(default));
    let window_secs = u32::try_from(minutes(req.window_minutes, 10) * 60).unwrap_or(u32::MAX);
    let new = NewProtectedRelease {
        product: product.id,
        day,
        prequeue_opens_at: opens_at - SignedDuration::from_mins(minutes(req.prequeue_minutes, 30)),
        opens_at,
        window_secs,
        seed: [0; 32],
        created_by: staff.account.id,
        created_at: app.queue.now(),
    };
    let published = app.queue.protect(new).await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "release_protected",
            &format!(
                "release {} of product {} on {day}",
                published.release.id, product.id.0
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(published.into())))
}

/// Protected releases, soonest first: each seed's commitment, and the seed once it opened.
#[utoipa::path(get, path = "/api/v1/releases", tag = "catalogue",
    responses((status = 200, body = [ReleaseResponse])))]
pub async fn list(State(app): State<AppState>) -> Json<Vec<ReleaseResponse>> {
    Json(app.queue.published().into_iter().map(Into::into).collect())
}
