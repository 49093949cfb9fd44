//! Face verification routes: the consent text, the visitor's consent, verifications, and the
//! provider's completion callback.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_identity::IdentityError;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::wire_identity::*;
use crate::AppState;

/// The current face-verification consent text: what is collected and why.
#[utoipa::path(get, path = "/api/v1/face/consent-text", tag = "face", responses((status = 200, body = ConsentTextResponse)))]
pub async fn consent_text(State(app): State<AppState>) -> Json<ConsentTextResponse> {
    let t = app.identity.consent_text();
    Json(ConsentTextResponse {
        version: t.version.clone(),
        collected: t.collected.clone(),
        reason: t.reason.clone(),
        text: t.text.clone(),
    })
}

/// Record the visitor's consent to face verification (the text version they agreed to).
#[utoipa::path(post, path = "/api/v1/me/face-consent", tag = "face", security(("bearer" = ["self_service"])), request_body = ConsentRequest,
    responses((status = 201, body = ConsentResponse), (status = 422, body = ErrorBody)))]
pub async fn give_consent(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<ConsentRequest>,
) -> Result<(StatusCode, Json<ConsentResponse>), ApiError> {
    let consent = app
        .identity
        .give_face_consent(&session, &req.text_version)
        .await?;
    Ok((StatusCode::CREATED, Json(consent.into())))
}

/// The visitor's current consent.
#[utoipa::path(get, path = "/api/v1/me/face-consent", tag = "face", security(("bearer" = ["self_service"])),
    responses((status = 200, body = ConsentResponse), (status = 404, body = ErrorBody)))]
pub async fn current_consent(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<Json<ConsentResponse>, ApiError> {
    let consent = app
        .identity
        .current_face_consent(session.account.id)
        .await?
        .ok_or(IdentityError::NotFound { what: "consent" })?;
    Ok(Json(consent.into()))
}

/// Withdraw the consent; products that need face verification can no longer be booked.
#[utoipa::path(delete, path = "/api/v1/me/face-consent", tag = "face", security(("bearer" = ["self_service"])),
    responses((status = 204)))]
pub async fn withdraw_consent(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<StatusCode, ApiError> {
    app.identity
        .withdraw_face_consent(session.account.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a face verification of the visitor (or a frequent visitor); answers the URL where the
/// person does the liveness check. Needs the visitor's consent first.
#[utoipa::path(post, path = "/api/v1/me/face-verifications", tag = "face", security(("bearer" = ["self_service"])), request_body = FaceVerificationRequest,
    responses((status = 201, body = FaceVerificationResponse), (status = 403, body = ErrorBody, description = "consent_required"),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn start_verification(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<FaceVerificationRequest>,
) -> Result<(StatusCode, Json<FaceVerificationResponse>), ApiError> {
    let (name, kind, number) = match (req.visitor_id, req.name, req.id_type, req.id_number) {
        (Some(id), None, None, None) => {
            let mut opened = app
                .identity
                .open_visitors(session.account.id, &[id.as_str()])
                .await
                .map_err(|e| match e {
                    IdentityError::NotFound { .. } => {
                        ApiError::field("visitor_id", "is not on your frequent-visitor list")
                    }
                    other => other.into(),
                })?;
            let v = opened.pop().ok_or(ApiError::Internal)?;
            (
                v.name.expose().to_owned(),
                v.id_kind,
                v.id_number.expose().to_owned(),
            )
        }
        (None, Some(name), Some(kind), Some(number)) => (name, kind.into(), number),
        _ => {
            return Err(ApiError::field(
                "visitor_id",
                "give visitor_id, or name, id_type and id_number",
            ))
        }
    };
    let (face, url) = app
        .identity
        .start_face_verification(&session, &name, kind, &number, &req.return_url)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(FaceVerificationResponse::of(face, Some(url))),
    ))
}

/// One verification as recorded.
#[utoipa::path(get, path = "/api/v1/me/face-verifications/{id}", tag = "face", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    responses((status = 200, body = FaceVerificationResponse), (status = 404, body = ErrorBody)))]
pub async fn get_verification(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FaceVerificationResponse>, ApiError> {
    let face = app
        .identity
        .face_verification(session.account.id, &id)
        .await?;
    Ok(Json(FaceVerificationResponse::of(face, None)))
}

/// The person is back from the liveness check: ask the provider for the outcome.
#[utoipa::path(post, path = "/api/v1/me/face-verifications/{id}/check", tag = "face", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    responses((status = 200, body = FaceVerificationResponse), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn check_verification(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FaceVerificationResponse>, ApiError> {
    let face = app
        .identity
        .check_face_verification(session.account.id, &id)
        .await?;
    Ok(Json(FaceVerificationResponse::of(face, None)))
}

/// The provider's completion callback. Its own fields are only a hint: the outcome is fetched
/// from the provider. A wrong token answers 404 and changes nothing.
#[utoipa::path(get, path = "/api/v1/face/callback", tag = "face",
    params(("certifyId" = String, Query), ("callbackToken" = String, Query), ("passed" = Option<String>, Query), ("subcode" = Option<String>, Query)),
    responses((status = 200, body = FaceCallbackResponse), (status = 404, body = ErrorBody)))]
pub async fn callback(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<FaceCallbackQuery>,
) -> Result<Json<FaceCallbackResponse>, ApiError> {
    if q.certify_id.len() > 128 || q.callback_token.len() > 128 {
        return Err(ApiError::NoRoute);
    }
    let state = app
        .identity
        .face_callback(&q.certify_id, &q.callback_token)
        .await?;
    Ok(Json(FaceCallbackResponse {
        state: state.as_str().to_owned(),
    }))
}
