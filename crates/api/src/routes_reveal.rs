//! Reveal with purpose: a member of staff whose role grants `personal_data_reveal` sees one
//! personal field of one order in clear — its contact phone, or a ticket's visitor name or ID
//! number — after stating why. The audit record (who, role, record, field, purpose, when, the
//! client's network) is made durable before the value is answered; a reveal that cannot be
//! audited does not happen.
//! Everything else staff see stays masked.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_booking::RevealField;
use gatehouse_domain::access::Permission;
use gatehouse_domain::audit::AuditEntry;
use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_identity::Authenticated;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// What to reveal and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// `contact_phone`, `visitor_name` or `id_number`.
    pub field: String,
    /// The ticket, for `visitor_name` and `id_number`.
    pub ticket_id: Option<String>,
    /// Why (10 to 200 characters): kept in the audit log.
    pub purpose: String,
}

/// The field in clear, and the audit record that says who saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealResponse {
    pub field: String,
    pub value: String,
    /// The reveal's place in the audit log.
    pub audit_seq: u64,
}

fn parse(req: &RevealRequest) -> Result<RevealField, ApiError> {
    let ticket = || {
        req.ticket_id
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| TicketId(t.trim().to_owned()))
            .ok_or_else(|| ApiError::field("ticket_id", "is required for a visitor's field"))
    };
    match req.field.as_str() {
        "contact_phone" => Ok(RevealField::ContactPhone),
        "visitor_name" => Ok(RevealField::VisitorName(ticket()?)),
        "id_number" => Ok(RevealField::IdNumber(ticket()?)),
        _ => Err(ApiError::field(
            "field",
            "is contact_phone, visitor_name or id_number",
        )),
    }
}

/// Reveal one personal field of an order, stating a purpose (audited).
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/reveal", tag = "admin",
    security(("bearer" = ["personal_data_reveal"])), params(("id" = String, Path)),
    request_body = RevealRequest,
    responses((status = 200, body = RevealResponse), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn reveal(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::PersonalDataReveal>,
    ip: ClientIp,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevealRequest>,
) -> Result<axum::response::Response, ApiError> {
    let body = reveal_field(&app, &staff, &ip, id, &req).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// Reveals one field of order `id` to `staff` once its audit record is durable (the API's
/// route and the console's page both reveal through here). Whoever calls it must have checked
/// `personal_data_reveal`; it is checked again here, so a caller that forgot cannot leak.
pub async fn reveal_field(
    app: &AppState,
    staff: &Authenticated,
    ip: &ClientIp,
    id: String,
    req: &RevealRequest,
) -> Result<RevealResponse, ApiError> {
    if !staff.account.roles.allow(Permission::PersonalDataReveal) {
        return Err(ApiError::Forbidden(Permission::PersonalDataReveal.as_str()));
    }
    let field = parse(req)?;
    let purpose = req.purpose.trim();
    let length = purpose.chars().count();
    if !(10..=200).contains(&length) {
        return Err(ApiError::field(
            "purpose",
            "say why, in 10 to 200 characters",
        ));
    }
    let order = OrderId(id);
    // Opened first (one read of the order; a wrong ticket is a 404 with nothing recorded), but
    // answered only once the audit record is durable.
    let value = app.service.reveal(&staff.account, &order, &field).await?;
    let (subject, field_name) = field.audit_subject(&order);
    let mut entry = AuditEntry::new(
        app.identity.now(),
        Some(staff.account.id),
        "reveal",
        "one field shown in clear",
    );
    entry.role = Some(staff.account.roles.to_string());
    entry.subject = Some(subject);
    entry.field = Some(field_name.to_owned());
    entry.purpose = Some(purpose.to_owned());
    entry.origin = Some(ip.origin());
    let audit_seq = app.identity.record_durably(entry).await?;
    Ok(RevealResponse {
        field: field_name.to_owned(),
        value: value.expose().to_owned(),
        audit_seq,
    })
}
