//! Breach records over HTTP, for staff holding `breach_manage`: open one (the people affected
//! are computed at once and the notice drafted), read it with its notice progress and
//! deadline, send its notices. Visitors read the notices sent to them in the app at
//! `GET /api/v1/me/notices`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::access::Permission;
use gatehouse_domain::account::Account;
use gatehouse_domain::breach::BreachReport;
use gatehouse_domain::personal_data::PersonalField;
use gatehouse_identity::breach::BreachView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreachRequest {
    pub title: String,
    /// What happened (no personal data: it is sent to the people affected).
    pub what_happened: String,
    /// RFC 3339 instants.
    pub occurred_at: String,
    pub discovered_at: String,
    /// Kinds of personal data involved, by catalogue name (`id_number`, `contact_phone`…).
    pub fields: Vec<String>,
    pub systems: String,
    pub measures: String,
    pub advice: String,
    pub contact: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreachResponse {
    pub id: String,
    pub title: String,
    pub fields: Vec<&'static str>,
    pub occurred_at: String,
    pub discovered_at: String,
    pub opened_at: String,
    /// Every notice must be out by then: 24 h after discovery for sensitive data, else 48 h.
    pub deadline_at: String,
    pub overdue: bool,
    pub affected: u64,
    /// Kinds of data that cannot be tied to a person (for the regulator's report).
    pub unattributable: Vec<&'static str>,
    pub notices_pending: u64,
    pub notices_sent: u64,
    pub notices_failed: u64,
    pub escalated_near_at: Option<String>,
    pub escalated_missed_at: Option<String>,
    /// The notice the people affected receive.
    pub draft_notice: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeResponse {
    pub breach_id: String,
    pub sent_at: String,
    pub text: String,
}

fn wire(v: &BreachView) -> BreachResponse {
    let b = &v.breach;
    BreachResponse {
        id: b.id.clone(),
        title: b.report.title.clone(),
        fields: b.report.fields.iter().map(|f| f.as_str()).collect(),
        occurred_at: b.report.occurred_at.to_string(),
        discovered_at: b.report.discovered_at.to_string(),
        opened_at: b.opened_at.to_string(),
        deadline_at: b.deadline_at.to_string(),
        overdue: v.overdue,
        affected: b.affected,
        unattributable: b.unattributable.iter().map(|f| f.as_str()).collect(),
        notices_pending: v.progress.pending,
        notices_sent: v.progress.sent,
        notices_failed: v.progress.failed,
        escalated_near_at: b.escalated_near_at.map(|t| t.to_string()),
        escalated_missed_at: b.escalated_missed_at.map(|t| t.to_string()),
        draft_notice: v.draft.clone(),
    }
}

fn instant(field: &str, text: &str) -> Result<jiff::Timestamp, ApiError> {
    text.parse().map_err(|_| {
        ApiError::field(
            field,
            "is not an RFC 3339 instant (2026-11-24T09:00:00+08:00)",
        )
    })
}

/// Open a breach record: the people affected are computed and the notice drafted.
#[utoipa::path(post, path = "/api/v1/admin/breaches", tag = "admin",
    security(("bearer" = ["breach_manage"])), request_body = BreachRequest,
    responses((status = 201, body = BreachResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn open(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::BreachManage>,
    ApiJson(req): ApiJson<BreachRequest>,
) -> Result<(StatusCode, Json<BreachResponse>), ApiError> {
    let view = open_breach(&app, &staff.account, req).await?;
    Ok((StatusCode::CREATED, Json(wire(&view))))
}

/// Opens a breach record for `staff` (who must hold `breach_manage`, checked here too): the
/// API's route and the console's form both come here.
pub async fn open_breach(
    app: &AppState,
    staff: &Account,
    req: BreachRequest,
) -> Result<BreachView, ApiError> {
    if !staff.roles.allow(Permission::BreachManage) {
        return Err(ApiError::Forbidden(Permission::BreachManage.as_str()));
    }
    let mut fields = Vec::new();
    for (i, name) in req.fields.iter().enumerate() {
        let field = PersonalField::parse(name).ok_or_else(|| {
            ApiError::field(
                format!("fields[{i}]"),
                "is not a kind of personal data Gatehouse holds",
            )
        })?;
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    let report = BreachReport {
        occurred_at: instant("occurred_at", &req.occurred_at)?,
        discovered_at: instant("discovered_at", &req.discovered_at)?,
        title: req.title,
        what_happened: req.what_happened,
        fields,
        systems: req.systems,
        measures: req.measures,
        advice: req.advice,
        contact: req.contact,
    };
    Ok(app.identity.open_breach(staff, report).await?)
}

/// Breach records, newest first.
#[utoipa::path(get, path = "/api/v1/admin/breaches", tag = "admin",
    security(("bearer" = ["breach_manage"])),
    responses((status = 200, body = [BreachResponse]), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::BreachManage>,
) -> Result<Json<Vec<BreachResponse>>, ApiError> {
    Ok(Json(
        app.identity.breaches(100).await?.iter().map(wire).collect(),
    ))
}

/// One breach record with its notices' progress and the draft notice.
#[utoipa::path(get, path = "/api/v1/admin/breaches/{id}", tag = "admin",
    security(("bearer" = ["breach_manage"])), params(("id" = String, Path)),
    responses((status = 200, body = BreachResponse), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::BreachManage>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<BreachResponse>, ApiError> {
    Ok(Json(wire(&app.identity.breach(&id).await?)))
}

/// Send the breach's notices not yet sent (failed ones are tried again).
#[utoipa::path(post, path = "/api/v1/admin/breaches/{id}/notify", tag = "admin",
    security(("bearer" = ["breach_manage"])), params(("id" = String, Path)),
    responses((status = 200, body = BreachResponse), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn notify(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::BreachManage>,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<BreachResponse>, ApiError> {
    Ok(Json(wire(
        &app.identity
            .send_breach_notices(&staff.account, &id, Some(ip.origin()))
            .await?,
    )))
}

/// Notices the museum sent me in the app (when my account has no phone to text).
#[utoipa::path(get, path = "/api/v1/me/notices", tag = "me", security(("bearer" = ["self_service"])),
    responses((status = 200, body = [NoticeResponse])))]
pub async fn mine(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<Json<Vec<NoticeResponse>>, ApiError> {
    Ok(Json(
        app.identity
            .my_notices(session.account.id)
            .await?
            .into_iter()
            .map(|(b, at)| NoticeResponse {
                text: b.draft_notice(),
                breach_id: b.id,
                sent_at: at.to_string(),
            })
            .collect(),
    ))
}
