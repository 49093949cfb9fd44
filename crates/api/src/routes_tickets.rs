//! A ticket's QR code as an image, for the order's owner (or staff who may read orders), and a
//! group order's one code for all its members.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gatehouse_domain::order::OrderId;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QrQuery {
    /// The ticket of the order; leave it out for a group order's one code for all its members.
    pub ticket: Option<String>,
    /// `svg` (default) or `png`.
    pub format: Option<String>,
}

/// The QR code of one valid ticket of my order, or of my group order as a whole, as SVG or PNG.
#[utoipa::path(get, path = "/api/v1/orders/{id}/qr", tag = "orders", security(("bearer" = ["self_service"])),
    params(("id" = String, Path), QrQuery),
    responses((status = 200, content_type = "image/svg+xml"), (status = 200, content_type = "image/png"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ticket_qr(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<QrQuery>,
) -> Result<Response, ApiError> {
    let png = match q.format.as_deref() {
        None | Some("svg") => false,
        Some("png") => true,
        Some(_) => return Err(ApiError::field("format", "must be svg or png")),
    };
    let details = app
        .service
        .get_order(&session.account, &OrderId(id))
        .await?;
    let not_shown = |state: &'static str| {
        ApiError::Domain(gatehouse_domain::BookingError::InvalidState {
            state,
            action: "shown at the gate",
        })
    };
    let code = match &q.ticket {
        Some(wanted) => {
            let ticket = details
                .tickets
                .iter()
                .find(|t| t.ticket.id.0 == *wanted)
                .ok_or_else(|| ApiError::field("ticket", "is not a ticket of this order"))?;
            ticket
                .code
                .as_deref()
                .ok_or_else(|| not_shown(ticket.ticket.state.as_str()))?
        }
        None if details.order.organisation.is_none() => {
            return Err(ApiError::field(
                "ticket",
                "is required: only group orders have one code for all",
            ))
        }
        None => details
            .group_code
            .as_deref()
            .ok_or_else(|| not_shown(details.order.state.as_str()))?,
    };
    let response = if png {
        let image = gatehouse_tickets::qr::png(code, 6).map_err(|_| ApiError::Internal)?;
        ([(header::CONTENT_TYPE, "image/png")], image).into_response()
    } else {
        let image = gatehouse_tickets::qr::svg(code).map_err(|_| ApiError::Internal)?;
        ([(header::CONTENT_TYPE, "image/svg+xml")], image).into_response()
    };
    Ok(response)
}
