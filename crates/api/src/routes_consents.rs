//! The consent ledger for visitors: the current texts (face verification, the risk service's use
//! of their data), their own consents — withdrawn ones too — and the booking notices they
//! accepted with each order; give and withdraw a consent. Withdrawal takes effect at once (a
//! product needing face verification can no longer be booked without a new consent).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::wire_identity::{ConsentResponse, ConsentTextResponse};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PurposeText {
    pub purpose: String,
    #[serde(flatten)]
    pub text: ConsentTextResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentTextsResponse {
    pub texts: Vec<PurposeText>,
}

/// Every consent text a visitor can agree to here, current versions.
#[utoipa::path(get, path = "/api/v1/consent-texts", tag = "me", responses((status = 200, body = ConsentTextsResponse)))]
pub async fn texts(State(app): State<AppState>) -> Json<ConsentTextsResponse> {
    let texts = gatehouse_identity::consents::PURPOSES
        .iter()
        .filter_map(|p| {
            app.identity.consent_text_for(p).map(|t| PurposeText {
                purpose: (*p).to_owned(),
                text: ConsentTextResponse {
                    version: t.version.clone(),
                    collected: t.collected.clone(),
                    reason: t.reason.clone(),
                    text: t.text.clone(),
                },
            })
        })
        .collect();
    Json(ConsentTextsResponse { texts })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveConsentRequest {
    /// `face_verification` or `risk_assessment`.
    pub purpose: String,
    /// The version of the text the visitor was shown and agreed to.
    pub text_version: String,
}

/// A booking notice accepted with an order.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeAcceptance {
    pub order_id: String,
    pub product: String,
    pub notice_version: u32,
    pub accepted_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyConsentsResponse {
    pub consents: Vec<ConsentResponse>,
    pub booking_notices: Vec<NoticeAcceptance>,
}

/// The visitor's consent ledger: every consent given (and withdrawn), and the booking notices
/// accepted with their orders (the newest 100).
#[utoipa::path(get, path = "/api/v1/me/consents", tag = "me", security(("bearer" = ["self_service"])),
    responses((status = 200, body = MyConsentsResponse), (status = 401, body = ErrorBody)))]
pub async fn mine(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<Json<MyConsentsResponse>, ApiError> {
    let account = session.account.id;
    let consents = app.identity.consents(account).await?;
    let orders = app.service.list_orders(account, None, 100).await?;
    Ok(Json(MyConsentsResponse {
        consents: consents.into_iter().map(Into::into).collect(),
        booking_notices: orders
            .into_iter()
            .map(|d| NoticeAcceptance {
                order_id: d.order.id.0,
                product: d.product_name,
                notice_version: d.order.notice_version,
                accepted_at: d.order.created_at.to_string(),
            })
            .collect(),
    }))
}

/// Give a consent to the current text of a purpose.
#[utoipa::path(post, path = "/api/v1/me/consents", tag = "me", security(("bearer" = ["self_service"])), request_body = GiveConsentRequest,
    responses((status = 201, body = ConsentResponse), (status = 422, body = ErrorBody)))]
pub async fn give(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<GiveConsentRequest>,
) -> Result<(StatusCode, Json<ConsentResponse>), ApiError> {
    let consent = app
        .identity
        .give_consent(&session, &req.purpose, &req.text_version)
        .await?;
    Ok((StatusCode::CREATED, Json(consent.into())))
}

/// Withdraw every consent for a purpose; it stops counting at once.
#[utoipa::path(delete, path = "/api/v1/me/consents/{purpose}", tag = "me", security(("bearer" = ["self_service"])), params(("purpose" = String, Path)),
    responses((status = 204), (status = 422, body = ErrorBody)))]
pub async fn withdraw(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(purpose): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.identity
        .withdraw_consent(session.account.id, &purpose)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
