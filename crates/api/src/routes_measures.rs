//! Measures against accounts over HTTP: staff (`risk_manage`) take a warning, a refund limit, a
//! suspension or a ban with the reason and the notice the visitor sees, list and lift them
//! (each audited); visitors read their own notices. What a measure stops is refused by the
//! booking, payment and refund paths (`risk_checks::refuse_if_measured`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::measure::{Measure, MeasureKind, NewMeasure};
use gatehouse_domain::order::AccountId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeMeasureRequest {
    pub account_id: i64,
    /// `warning`, `no_refunds`, `suspension` (needs `until`) or `ban`.
    pub kind: String,
    /// When it ends (RFC 3339); a ban without one lasts until lifted.
    pub until: Option<String>,
    /// Why (staff and the audit trail), 1 to 500 characters.
    pub reason: String,
    /// What the visitor is shown, 1 to 500 characters.
    pub notice: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftMeasureRequest {
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MeasureQuery {
    pub account_id: Option<i64>,
    /// At most this many, newest first (default 100, at most 1,000).
    pub limit: Option<u32>,
}

/// A measure as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeasureResponse {
    pub id: i64,
    pub account_id: i64,
    pub kind: String,
    pub until: Option<String>,
    pub reason: String,
    pub notice: String,
    pub decided_by: i64,
    pub decided_at: String,
    pub lifted_at: Option<String>,
    pub lifted_by: Option<i64>,
    pub lift_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeasuresResponse {
    pub measures: Vec<MeasureResponse>,
}

/// A measure as its visitor sees it: what, until when, the notice (not staff's reasons).
#[derive(Debug, Serialize, ToSchema)]
pub struct MyMeasureResponse {
    pub id: i64,
    pub kind: String,
    pub until: Option<String>,
    pub notice: String,
    pub decided_at: String,
    pub lifted_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyMeasuresResponse {
    pub measures: Vec<MyMeasureResponse>,
}

fn response(m: Measure) -> MeasureResponse {
    let (lifted_at, lifted_by, lift_reason) = match m.lifted {
        Some(l) => (Some(l.at.to_string()), Some(l.by.0), Some(l.reason)),
        None => (None, None, None),
    };
    MeasureResponse {
        id: m.id,
        account_id: m.measure.account.0,
        kind: m.measure.kind.as_str().into(),
        until: m.measure.until.map(|t| t.to_string()),
        reason: m.measure.reason,
        notice: m.measure.notice,
        decided_by: m.measure.decided_by.0,
        decided_at: m.measure.decided_at.to_string(),
        lifted_at,
        lifted_by,
        lift_reason,
    }
}

/// Take a measure against an account (in force on this node at once, on every node within
/// `risk.refresh_secs`).
#[utoipa::path(post, path = "/api/v1/admin/risk/measures", tag = "risk", security(("bearer" = ["risk_manage"])),
    request_body = TakeMeasureRequest,
    responses((status = 201, body = MeasureResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn take(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::RiskManage>,
    ApiJson(req): ApiJson<TakeMeasureRequest>,
) -> Result<(StatusCode, Json<MeasureResponse>), ApiError> {
    let kind = MeasureKind::parse(&req.kind)
        .ok_or_else(|| ApiError::field("kind", "one of warning, no_refunds, suspension, ban"))?;
    if req.account_id <= 0 {
        return Err(ApiError::field("account_id", "an account id"));
    }
    let until = req
        .until
        .as_deref()
        .map(|raw| {
            raw.parse::<jiff::Timestamp>()
                .map_err(|_| ApiError::field("until", "an RFC 3339 instant"))
        })
        .transpose()?;
    let taken = app
        .risk
        .take_measure(NewMeasure {
            account: AccountId(req.account_id),
            kind,
            until,
            reason: req.reason,
            notice: req.notice,
            decided_by: staff.account.id,
            decided_at: app.service.clock().now(),
        })
        .await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "risk_measure_taken",
            &format!(
                "measure {}: {} on account {} ({})",
                taken.id,
                taken.measure.kind.as_str(),
                taken.measure.account.0,
                taken.measure.reason
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(response(taken))))
}

/// Measures, newest first: one account's or everyone's.
#[utoipa::path(get, path = "/api/v1/admin/risk/measures", tag = "risk", security(("bearer" = ["risk_manage"])),
    params(MeasureQuery),
    responses((status = 200, body = MeasuresResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    _: Allowed<perm::RiskManage>,
    ApiQuery(q): ApiQuery<MeasureQuery>,
) -> Result<Json<MeasuresResponse>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::field("limit", "1 to 1,000"));
    }
    let found = app
        .risk
        .measures(q.account_id.map(AccountId), limit)
        .await?;
    Ok(Json(MeasuresResponse {
        measures: found.into_iter().map(response).collect(),
    }))
}

/// Lift a measure in force (404 when there is none with that id to lift).
#[utoipa::path(post, path = "/api/v1/admin/risk/measures/{id}/lift", tag = "risk", security(("bearer" = ["risk_manage"])),
    params(("id" = i64, Path)), request_body = LiftMeasureRequest,
    responses((status = 200, body = MeasureResponse), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lift(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::RiskManage>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<LiftMeasureRequest>,
) -> Result<Json<MeasureResponse>, ApiError> {
    let lifted = app
        .risk
        .lift_measure(id, staff.account.id, &req.reason)
        .await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "risk_measure_lifted",
            &format!(
                "measure {id} on account {}: {}",
                lifted.measure.account.0,
                req.reason.trim()
            ),
        )
        .await;
    Ok(Json(response(lifted)))
}

/// My account's measures and their notices, newest first.
#[utoipa::path(get, path = "/api/v1/me/measures", tag = "me", security(("bearer" = ["self_service"])),
    responses((status = 200, body = MyMeasuresResponse), (status = 401, body = ErrorBody)))]
pub async fn mine(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<Json<MyMeasuresResponse>, ApiError> {
    let found = app.risk.measures(Some(session.account.id), 100).await?;
    Ok(Json(MyMeasuresResponse {
        measures: found
            .into_iter()
            .map(|m| MyMeasureResponse {
                id: m.id,
                kind: m.measure.kind.as_str().into(),
                until: m.measure.until.map(|t| t.to_string()),
                notice: m.measure.notice,
                decided_at: m.measure.decided_at.to_string(),
                lifted_at: m.lifted.map(|l| l.at.to_string()),
            })
            .collect(),
    }))
}
