//! Gate routes. Devices (`/api/v1/gate/…`, authenticated by their own credential, never a
//! staff session) scan online, download the day's bundle and upload what they admitted
//! offline; staff register and revoke devices and watch check-ins and double uses.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use jiff::civil::Date;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{perm, Allowed, GateCaller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::wire_gates::*;
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DayQuery {
    /// The museum's calendar day, `YYYY-MM-DD` (default: today).
    pub date: Option<String>,
}

impl DayQuery {
    fn day(&self, app: &AppState) -> Result<Date, ApiError> {
        match &self.date {
            None => Ok(app.gates.today()),
            Some(d) => d
                .parse()
                .map_err(|_| ApiError::field("date", "must be a date, YYYY-MM-DD")),
        }
    }
}

/// Register a gate or handheld scanner; its credential is in the answer, this once.
#[utoipa::path(post, path = "/api/v1/admin/gates", tag = "gates", security(("bearer" = ["gates_manage"])),
    request_body = RegisterDeviceRequest,
    responses((status = 201, body = RegisteredDevice), (status = 422, body = ErrorBody)))]
pub async fn register_device(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::GatesManage>,
    ApiJson(req): ApiJson<RegisterDeviceRequest>,
) -> Result<(StatusCode, Json<RegisteredDevice>), ApiError> {
    let credential = app.gates.register_device(&req.name).await?;
    Ok((StatusCode::CREATED, Json(credential.into())))
}

/// Every gate device, active and revoked.
#[utoipa::path(get, path = "/api/v1/admin/gates", tag = "gates", security(("bearer" = ["gates_manage"])),
    responses((status = 200, body = Vec<DeviceResponse>)))]
pub async fn list_devices(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::GatesManage>,
) -> Result<Json<Vec<DeviceResponse>>, ApiError> {
    let devices = app.gates.devices().await?;
    Ok(Json(devices.into_iter().map(Into::into).collect()))
}

/// Revoke a device: its credential is refused from now on (on other nodes within 10 s).
#[utoipa::path(post, path = "/api/v1/admin/gates/{id}/revoke", tag = "gates", security(("bearer" = ["gates_manage"])), params(("id" = String, Path)),
    request_body = RevokeDeviceRequest,
    responses((status = 200, body = DeviceResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn revoke_device(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::GatesManage>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeDeviceRequest>,
) -> Result<Json<DeviceResponse>, ApiError> {
    Ok(Json(
        app.gates.revoke_device(&id, &req.reason).await?.into(),
    ))
}

/// Live check-ins of a day: per slot, tickets sold and let in, per gate.
#[utoipa::path(get, path = "/api/v1/admin/check-ins", tag = "gates", security(("bearer" = ["check_in"])),
    params(DayQuery),
    responses((status = 200, body = CheckInCounts), (status = 422, body = ErrorBody)))]
pub async fn check_in_counts(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::CheckIn>,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> Result<Json<CheckInCounts>, ApiError> {
    let day = q.day(&app)?;
    let slots = app.gates.counts(day).await?;
    Ok(Json(CheckInCounts {
        date: day.to_string(),
        slots: slots.into_iter().map(Into::into).collect(),
    }))
}

/// Tickets of a day let in more than once (offline gates cannot see each other's entries).
#[utoipa::path(get, path = "/api/v1/admin/check-ins/double-uses", tag = "gates", security(("bearer" = ["check_in"])),
    params(DayQuery),
    responses((status = 200, body = DoubleUses), (status = 422, body = ErrorBody)))]
pub async fn double_uses(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::CheckIn>,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> Result<Json<DoubleUses>, ApiError> {
    let day = q.day(&app)?;
    let tickets = app.gates.double_uses(day).await?;
    Ok(Json(DoubleUses {
        date: day.to_string(),
        tickets: tickets.into_iter().map(Into::into).collect(),
    }))
}

/// Check a scanned ticket in: admitted once; a refusal is a 409 with a stable code and what
/// the gate shows ("already used at 09:12, gate 3"). A group code lets in, at once, every member
/// of its order not yet in (`people` says how many).
#[utoipa::path(post, path = "/api/v1/gate/scan", tag = "gates", security(("gate_device" = [])),
    request_body = ScanRequest,
    responses((status = 200, body = ScanAdmitted), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn scan(
    State(app): State<AppState>,
    GateCaller(device): GateCaller,
    ApiJson(req): ApiJson<ScanRequest>,
) -> Result<Json<ScanAdmitted>, ApiError> {
    match app.gates.scan(&device, &req.code).await {
        Ok(admitted) => Ok(Json(admitted.into())),
        Err(e) => Err(ApiError::gate(&app, e)),
    }
}

/// What the calling gate needs to work offline for a day: keys, valid and revoked tickets,
/// entries so far. No personal data.
#[utoipa::path(get, path = "/api/v1/gate/bundle", tag = "gates", security(("gate_device" = [])),
    params(DayQuery),
    responses((status = 200, body = gatehouse_gates::GateBundle), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn bundle(
    State(app): State<AppState>,
    GateCaller(device): GateCaller,
    ApiQuery(q): ApiQuery<DayQuery>,
) -> Result<Json<gatehouse_gates::GateBundle>, ApiError> {
    let day = q.day(&app)?;
    Ok(Json(app.gates.bundle(&device, day).await?))
}

/// Upload entries the calling gate made offline; tickets let in twice are reported to staff.
#[utoipa::path(post, path = "/api/v1/gate/entries", tag = "gates", security(("gate_device" = [])),
    request_body = UploadRequest,
    responses((status = 200, body = UploadResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(app): State<AppState>,
    GateCaller(device): GateCaller,
    ApiJson(req): ApiJson<UploadRequest>,
) -> Result<Json<UploadResponse>, ApiError> {
    let entries: Vec<gatehouse_gates::UploadedEntry> =
        req.entries.into_iter().map(Into::into).collect();
    Ok(Json(app.gates.upload(&device, &entries).await?.into()))
}
