//! Data-subject rights, self-service: `GET /api/v1/me/data-export` gives a visitor everything
//! Gatehouse holds about them — profile, sign-in phone, frequent visitors, consents, orders
//! with their visitors — in clear and machine-readable, with the catalogue's description of
//! each kind of field. The export is recorded in the audit log before it is sent.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_domain::audit::AuditEntry;
use gatehouse_domain::data_request::RequestKind;
use gatehouse_domain::personal::Sensitive;
use gatehouse_domain::personal_data::CATALOGUE;
use serde_json::{json, Value};

use crate::auth::{perm, Allowed, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// The value in clear; null when it was erased after the visit.
fn clear(v: &Sensitive) -> Value {
    match v.expose() {
        "" => Value::Null,
        text => Value::String(text.to_owned()),
    }
}

/// Everything held about the signed-in visitor, in clear (JSON, a file to keep).
#[utoipa::path(get, path = "/api/v1/me/data-export", tag = "me", security(("bearer" = ["self_service"])),
    responses((status = 200, description = "the export (JSON)"), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn data_export(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ip: ClientIp,
) -> Result<axum::response::Response, ApiError> {
    let account = session.account.id;
    let data = app.identity.account_data(account).await?;
    let orders = app.service.export_orders(account).await?;
    let mut entry = AuditEntry::new(
        app.identity.now(),
        Some(account),
        "data_export",
        &format!(
            "{} frequent visitors, {} orders, {} consents",
            data.visitors.len(),
            orders.len(),
            data.consents.len()
        ),
    );
    entry.subject = Some(format!("account:{}", account.0));
    entry.origin = Some(ip.origin());
    app.identity.record_durably(entry).await?;
    app.identity
        .record_self_service(account, RequestKind::Export, "exported by the person")
        .await?;
    let export = json!({
        "exported_at": app.identity.now().to_string(),
        "account": {
            "id": data.account.id.0,
            "display_name": data.account.display_name,
            "created_at": data.account.created_at.to_string(),
        },
        "sign_in_phone": data.sign_in_phone.as_ref().map(clear),
        "frequent_visitors": data.visitors.iter().map(|v| json!({
            "id": v.id,
            "name": clear(&v.name),
            "id_type": v.id_kind.as_str(),
            "id_number": clear(&v.id_number),
            "phone": v.phone.as_ref().map(clear),
            "created_at": v.created_at.to_string(),
        })).collect::<Vec<_>>(),
        "consents": data.consents.iter().map(|c| json!({
            "purpose": c.purpose,
            "text_version": c.text_version,
            "collected": c.collected,
            "reason": c.reason,
            "given_at": c.given_at.to_string(),
            "withdrawn_at": c.withdrawn_at.map(|t| t.to_string()),
        })).collect::<Vec<_>>(),
        "orders": orders.iter().map(|o| json!({
            "id": o.id,
            "product": o.product,
            "day": o.day.to_string(),
            "state": o.state,
            "contact_phone": clear(&o.contact_phone),
            "total_fen": o.total_fen,
            "notice_version": o.notice_version,
            "created_at": o.created_at.to_string(),
            "tickets": o.tickets.iter().map(|t| json!({
                "id": t.id,
                "visitor_name": clear(&t.visitor_name),
                "id_type": t.id_kind.as_str(),
                "id_number": clear(&t.id_number),
                "state": t.state,
                "seat": t.seat,
                "price_fen": t.price_fen,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "what_we_hold": CATALOGUE,
    });
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gatehouse-my-data.json\"",
            ),
        ],
        Json(export),
    )
        .into_response())
}
