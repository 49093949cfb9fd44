//! Traffic protection's routes: the block and allow lists for staff (a change is in force on this
//! node at once and on every other node within `LIST_REFRESH`; each change is audited), and the
//! SMS path of challenges for visitors who cannot run the work.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::traffic::{ListAction, ListSubject, NewListEntry};
use jiff::{SignedDuration, Timestamp};

use axum::extract::FromRequest;

use crate::auth::{perm, Allowed, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::wire_identity::{PhoneCodeRequest, PhoneCodeResponse};
use crate::wire_traffic::{
    ListEntriesResponse, ListEntryResponse, NewListEntryRequest, PassResponse, SmsPassRequest,
    UsageResponse,
};
use crate::AppState;

/// The longest an entry may be set to last by `expires_in_secs`.
const MAX_ENTRY_SECS: u64 = 366 * 24 * 3600;

/// Metered calls across every node (this node's meter saved first), against the quota.
#[utoipa::path(get, path = "/api/v1/admin/traffic/usage", tag = "traffic", security(("bearer" = ["traffic_manage"])),
    responses((status = 200, body = UsageResponse), (status = 403, body = ErrorBody)))]
pub async fn usage(
    State(app): State<AppState>,
    _: Allowed<perm::TrafficManage>,
) -> Result<Json<UsageResponse>, ApiError> {
    let r = app.edge.fold_usage().await?;
    Ok(Json(UsageResponse {
        calls: r.used.calls(),
        passed: r.used.passed,
        refused: r.used.refused,
        challenged: r.used.challenged,
        blocked: r.used.blocked,
        quota: r.metering.quota,
        remaining: r.remaining(),
        exhausted: r.exhausted,
        on_exhaustion: format!("{:?}", r.metering.on_exhaustion).to_lowercase(),
    }))
}

/// Block and allow entries in force, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/traffic/lists", tag = "traffic", security(("bearer" = ["traffic_manage"])),
    responses((status = 200, body = ListEntriesResponse), (status = 403, body = ErrorBody)))]
pub async fn list_entries(
    State(app): State<AppState>,
    _: Allowed<perm::TrafficManage>,
) -> Result<Json<ListEntriesResponse>, ApiError> {
    let entries = app.edge.list_entries().await?;
    Ok(Json(ListEntriesResponse {
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}

/// Put an address, network, account or device on the block or allow list.
#[utoipa::path(post, path = "/api/v1/admin/traffic/lists", tag = "traffic", security(("bearer" = ["traffic_manage"])),
    request_body = NewListEntryRequest,
    responses((status = 201, body = ListEntryResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_entry(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::TrafficManage>,
    ApiJson(req): ApiJson<NewListEntryRequest>,
) -> Result<(StatusCode, Json<ListEntryResponse>), ApiError> {
    let action = ListAction::parse(&req.action)
        .ok_or_else(|| ApiError::field("action", "action is block or allow"))?;
    let subject = ListSubject::parse(&req.kind, &req.value)
        .map_err(|e| ApiError::field(e.field, e.message))?;
    let now = app.identity.now();
    let expires_at = match (&req.expires_at, req.expires_in_secs) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "expires_in_secs",
                "give expires_at or expires_in_secs, not both",
            ))
        }
        (Some(at), None) => Some(at.parse::<Timestamp>().map_err(|_| {
            ApiError::field(
                "expires_at",
                "an RFC 3339 instant, e.g. 2026-12-01T09:00:00+08:00",
            )
        })?),
        (None, Some(secs)) => {
            if secs == 0 || secs > MAX_ENTRY_SECS {
                return Err(ApiError::field(
                    "expires_in_secs",
                    format!("between 1 and {MAX_ENTRY_SECS} seconds"),
                ));
            }
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            Some(
                now.checked_add(SignedDuration::from_secs(secs))
                    .map_err(|_| ApiError::field("expires_in_secs", "too far ahead"))?,
            )
        }
        (None, None) => None,
    };
    let entry = NewListEntry {
        action,
        subject,
        reason: req.reason.trim().to_owned(),
        expires_at,
        added_by: Some(staff.account.id),
        added_at: now,
    };
    let added = app.edge.add_list_entry(entry).await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "traffic_list_entry_added",
            &format!(
                "entry {}: {} {} {} ({})",
                added.id,
                added.entry.action.as_str(),
                added.entry.subject.kind(),
                added.entry.subject.value(),
                added.entry.reason
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// Take an entry off its list.
#[utoipa::path(delete, path = "/api/v1/admin/traffic/lists/{id}", tag = "traffic", security(("bearer" = ["traffic_manage"])), params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_entry(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::TrafficManage>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.edge.remove_list_entry(id).await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "traffic_list_entry_removed",
            &format!("entry {id}"),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The SMS path of a challenge, for people whose device cannot do the work: a code to a phone
/// (the same code, limits and text as phone sign-in).
#[utoipa::path(post, path = "/.gatehouse/sms/code", tag = "traffic", request_body = PhoneCodeRequest,
    responses((status = 202, body = PhoneCodeResponse), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited, with Retry-After")))]
pub async fn challenge_sms_code(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PhoneCodeRequest>,
) -> Result<(StatusCode, Json<PhoneCodeResponse>), ApiError> {
    crate::routes_auth::send_code(&app, &ip, &req, "/.gatehouse/sms/code").await
}

/// The SMS path's second step: the code, and the challenge the client was given. The answer
/// is a pass, as for solved work (cookie `gh_pass` and the `pass` field).
#[utoipa::path(post, path = "/.gatehouse/sms/verify", tag = "traffic", request_body = SmsPassRequest,
    responses((status = 200, body = PassResponse), (status = 401, body = ErrorBody, description = "code_wrong, code_expired"),
        (status = 403, body = ErrorBody, description = "challenge_other_client"), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn challenge_sms_verify(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    request: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    let (parts, body) = request.into_parts();
    let ApiJson(req) = ApiJson::<SmsPassRequest>::from_request(
        axum::extract::Request::from_parts(parts.clone(), body),
        &app,
    )
    .await?;
    let phone = app
        .identity
        .verify_phone_code(&req.phone, &req.code, &ip)
        .await?;
    let answer = app
        .edge
        .sms_pass(&parts.headers, &parts.extensions, &req.token, &req.sale);
    if answer.status().is_success() {
        app.identity
            .audit(
                None,
                "challenge_passed_by_sms",
                &format!("phone {}, sale {}", phone.masked(), req.sale),
            )
            .await;
    }
    Ok(answer)
}
