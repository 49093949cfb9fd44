//! Group bookings over HTTP. So far: organisations (a visitor account registers one; staff
//! approve or reject it, audited), and a group leader checks a member list before booking —
//! the CSV (as text, or base64 for a GB18030 file from a Chinese spreadsheet) is read and
//! every row reported: valid, or why not (bad name, ID type or number, a duplicate, a member
//! who already holds a ticket that day). Valid rows are echoed masked; bad ones not at all.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_domain::group::{Organisation, OrganisationId, OrganisationState};
use gatehouse_groups::read_members;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberCheckRequest {
    pub slot_id: i64,
    /// The member list as CSV text: `name,id_type,id_number` per row (`id_type` may be left
    /// out for resident IDs; a header row is allowed). At most 500 members.
    pub csv: Option<String>,
    /// Or the file itself, base64 (UTF-8 or GB18030, as spreadsheets save CSV).
    pub csv_base64: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCheckResponse {
    pub valid: usize,
    pub invalid: usize,
    pub rows: Vec<MemberCheckRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCheckRow {
    /// The line in the file (1-based, counting a header).
    pub line: usize,
    pub ok: bool,
    /// Masked; only for rows whose name and ID number are valid.
    pub name: Option<String>,
    pub id_number: Option<String>,
    pub problems: Vec<MemberProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberProblem {
    /// `name`, `id_type`, `id_number` or `row`.
    pub column: String,
    /// `columns`, `invalid_name`, `invalid_id_type`, `invalid_id_number`, `duplicate`,
    /// `already_booked`.
    pub code: String,
    pub message: String,
}

/// Check a group's member list against a slot: every row valid, or why not.
#[utoipa::path(post, path = "/api/v1/groups/members/check", tag = "groups", security(("bearer" = ["self_service"])),
    request_body = MemberCheckRequest,
    responses((status = 200, body = MemberCheckResponse), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn check_members(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<MemberCheckRequest>,
) -> Result<Json<MemberCheckResponse>, ApiError> {
    let bytes = member_file(req.csv, req.csv_base64)?;
    let today = app.service.today();
    // A file refused whole (too large, too many rows, not text, no rows) changes nothing.
    let rows = read_members(&bytes, today).map_err(|e| ApiError::field("csv", e.to_string()))?;
    let documents: Vec<_> = rows
        .iter()
        .filter_map(|r| r.member.as_ref().map(|(_, d)| d))
        .collect();
    let booked = app
        .service
        .already_booked(SlotId(req.slot_id), &documents)?;
    let mut booked = booked.into_iter();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut problems: Vec<MemberProblem> = row
            .problems
            .iter()
            .map(|p| MemberProblem {
                column: p.column.to_owned(),
                code: p.code.to_owned(),
                message: p.message.clone(),
            })
            .collect();
        let (name, id_number) = match &row.member {
            Some((name, document)) => {
                if booked.next().unwrap_or(false) {
                    problems.push(MemberProblem {
                        column: "id_number".into(),
                        code: "already_booked".into(),
                        message: "already holds a ticket for this day".into(),
                    });
                }
                (Some(name.masked()), Some(document.masked()))
            }
            None => (None, None),
        };
        out.push(MemberCheckRow {
            line: row.line,
            ok: problems.is_empty(),
            name,
            id_number,
            problems,
        });
    }
    let valid = out.iter().filter(|r| r.ok).count();
    Ok(Json(MemberCheckResponse {
        invalid: out.len() - valid,
        valid,
        rows: out,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationRequest {
    /// The school's, company's or operator's name (2–100 characters).
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub approve: bool,
    /// Why (kept with the organisation and in the audit trail), 1–500 characters.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationResponse {
    pub id: i64,
    pub name: String,
    pub account: i64,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    pub created_at: String,
    pub decided_at: Option<String>,
    pub decision_reason: Option<String>,
}

impl From<Organisation> for OrganisationResponse {
    fn from(o: Organisation) -> Self {
        Self {
            id: o.id.0,
            name: o.name,
            account: o.account.0,
            state: o.state.as_str().to_owned(),
            created_at: o.created_at.to_string(),
            decided_at: o.decided.as_ref().map(|(at, _)| at.to_string()),
            decision_reason: o.decided.map(|(_, r)| r),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrganisationsQuery {
    /// `pending`, `approved` or `rejected` (default: all).
    pub state: Option<String>,
}

/// Register an organisation that books as groups (approved at once, or after staff review
/// where the museum requires it).
#[utoipa::path(post, path = "/api/v1/groups/organisations", tag = "groups", security(("bearer" = ["self_service"])),
    request_body = OrganisationRequest,
    responses((status = 201, body = OrganisationResponse), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn register_organisation(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<OrganisationRequest>,
) -> Result<(StatusCode, Json<OrganisationResponse>), ApiError> {
    let org = app.groups.register(session.account.id, &req.name).await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// My organisations.
#[utoipa::path(get, path = "/api/v1/groups/organisations", tag = "groups", security(("bearer" = ["self_service"])),
    responses((status = 200, body = Vec<OrganisationResponse>)))]
pub async fn my_organisations(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<Json<Vec<OrganisationResponse>>, ApiError> {
    let orgs = app.groups.organisations_of(session.account.id).await?;
    Ok(Json(orgs.into_iter().map(Into::into).collect()))
}

/// Organisations, newest first (staff).
#[utoipa::path(get, path = "/api/v1/admin/organisations", tag = "groups", security(("bearer" = ["orders_manage"])),
    params(OrganisationsQuery),
    responses((status = 200, body = Vec<OrganisationResponse>), (status = 422, body = ErrorBody)))]
pub async fn list_organisations(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::OrdersManage>,
    ApiQuery(q): ApiQuery<OrganisationsQuery>,
) -> Result<Json<Vec<OrganisationResponse>>, ApiError> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            OrganisationState::parse(s)
                .ok_or_else(|| ApiError::field("state", "must be pending, approved or rejected"))?,
        ),
    };
    let orgs = app.groups.organisations(state).await?;
    Ok(Json(orgs.into_iter().map(Into::into).collect()))
}

/// Approve or reject a pending organisation, with a reason (audited).
#[utoipa::path(post, path = "/api/v1/admin/organisations/{id}/decide", tag = "groups", security(("bearer" = ["orders_manage"])), params(("id" = i64, Path)),
    request_body = DecisionRequest,
    responses((status = 200, body = OrganisationResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide_organisation(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::OrdersManage>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Json<OrganisationResponse>, ApiError> {
    let org = app
        .groups
        .decide(OrganisationId(id), req.approve, &req.reason)
        .await?;
    app.identity
        .audit(
            Some(staff.account.id),
            if req.approve {
                "organisation_approved"
            } else {
                "organisation_rejected"
            },
            &format!("organisation {id}: {}", req.reason.trim()),
        )
        .await;
    Ok(Json(org.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupCapacityRequest {
    /// Tickets of this slot kept for group orders, apart from the public capacity.
    pub group_capacity: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCapacityResponse {
    pub slot: i64,
    pub group_capacity: u32,
    pub group_taken: u32,
}

/// Set a slot's group capacity (separate from its public capacity).
#[utoipa::path(put, path = "/api/v1/admin/slots/{id}/group-capacity", tag = "groups", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)),
    request_body = GroupCapacityRequest,
    responses((status = 200, body = GroupCapacityResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_group_capacity(
    State(app): State<AppState>,
    Allowed(..): Allowed<perm::CatalogueManage>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<GroupCapacityRequest>,
) -> Result<Json<GroupCapacityResponse>, ApiError> {
    let (group_capacity, group_taken) = app
        .service
        .set_group_capacity(SlotId(id), req.group_capacity)
        .await?;
    Ok(Json(GroupCapacityResponse {
        slot: id,
        group_capacity,
        group_taken,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBookingRequest {
    /// An approved organisation of the caller's.
    pub organisation_id: i64,
    pub slot_id: i64,
    /// The ticket type every member gets.
    pub ticket_type_id: i64,
    pub notice_version: u32,
    pub contact_phone: String,
    /// The group's leader (gets the first ticket).
    pub leader: crate::wire::VisitorRequest,
    /// The members as CSV (see `/api/v1/groups/members/check`), or `csv_base64`.
    pub csv: Option<String>,
    pub csv_base64: Option<String>,
}

/// Book a slot's group capacity for an approved organisation: its leader and every member of
/// the list, one ticket (and one QR code) each. A list with any bad row is refused whole —
/// check it first with `/api/v1/groups/members/check`.
#[utoipa::path(post, path = "/api/v1/groups/bookings", tag = "groups", security(("bearer" = ["self_service"])),
    request_body = GroupBookingRequest,
    responses((status = 201, body = crate::wire::OrderResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn book_group(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<GroupBookingRequest>,
) -> Result<(StatusCode, Json<crate::wire::OrderResponse>), ApiError> {
    let account = session.account;
    let org = app
        .groups
        .bookable(account.id, OrganisationId(req.organisation_id))
        .await?;
    let bytes = member_file(req.csv, req.csv_base64)?;
    let today = app.service.today();
    let rows = read_members(&bytes, today).map_err(|e| ApiError::field("csv", e.to_string()))?;
    if let Some(bad) = rows.iter().find(|r| r.member.is_none()) {
        let count = rows.iter().filter(|r| r.member.is_none()).count();
        return Err(ApiError::field(
            "csv",
            format!("{count} row(s) are not valid, the first on line {}; check the list with /api/v1/groups/members/check", bad.line),
        ));
    }
    let tt = gatehouse_domain::catalogue::TicketTypeId(req.ticket_type_id);
    let mut tickets = vec![(
        tt,
        gatehouse_booking::VisitorInput::new(
            req.leader.name,
            req.leader.id_type.into(),
            req.leader.id_number,
        ),
    )];
    for (name, document) in rows.into_iter().filter_map(|r| r.member) {
        tickets.push((
            tt,
            gatehouse_booking::VisitorInput::new(
                name.as_str(),
                document.kind(),
                document.normalised(),
            ),
        ));
    }
    let place = gatehouse_booking::PlaceOrder {
        slot_id: SlotId(req.slot_id),
        notice_version: req.notice_version,
        contact_phone: gatehouse_domain::personal::Sensitive::new(
            gatehouse_domain::personal::PersonalField::ContactPhone,
            req.contact_phone,
        ),
        tickets,
        seats: Vec::new(),
        face_passes: Vec::new(),
        organisation: Some(org.id),
    };
    let order = app.service.place_order(&account, place, None).await?;
    Ok((StatusCode::CREATED, Json(order.into())))
}

/// The member file of a request: CSV text, or base64 bytes.
fn member_file(csv: Option<String>, csv_base64: Option<String>) -> Result<Vec<u8>, ApiError> {
    match (csv, csv_base64) {
        (Some(text), None) => Ok(text.into_bytes()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::field("csv_base64", "is not base64")),
        _ => Err(ApiError::field("csv", "give either csv or csv_base64")),
    }
}
