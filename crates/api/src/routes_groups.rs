//! Group bookings over HTTP. So far: a group leader checks a member list before booking —
//! the CSV (as text, or base64 for a GB18030 file from a Chinese spreadsheet) is read and
//! every row reported: valid, or why not (bad name, ID type or number, a duplicate, a member
//! who already holds a ticket that day). Valid rows are echoed masked; bad ones not at all.

use axum::extract::State;
use axum::Json;
use base64::Engine;
use gatehouse_domain::catalogue::SlotId;
use gatehouse_groups::read_members;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
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
    let bytes = match (req.csv, req.csv_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::field("csv_base64", "is not base64"))?,
        _ => return Err(ApiError::field("csv", "give either csv or csv_base64")),
    };
    let today = app
        .service
        .clock()
        .now()
        .to_zoned(app.service.museum_tz().clone())
        .date();
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
