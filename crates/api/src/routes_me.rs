//! A visitor's own profile and frequent-visitor list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_identity::VisitorFields;

use crate::auth::{perm, Allowed, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::wire_identity::*;
use crate::AppState;

/// The signed-in account, its roles and its masked sign-in phone.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = ProfileResponse), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(app): State<AppState>,
    Caller(session): Caller,
) -> Result<Json<ProfileResponse>, ApiError> {
    let profile = app.identity.profile(session.account.id).await?;
    let locks = app.gates.no_show_locks_of(session.account.id).await?;
    Ok(Json(ProfileResponse {
        account: profile.account.into(),
        phone: profile.phone,
        signed_in_with: session.method.as_str().to_owned(),
        booking_locks: locks.into_iter().map(Into::into).collect(),
    }))
}

/// Change the account's display name.
#[utoipa::path(put, path = "/api/v1/me", tag = "me", security(("bearer" = ["self_service"])), request_body = ProfileRequest,
    responses((status = 200, body = ProfileResponse), (status = 422, body = ErrorBody)))]
pub async fn update_me(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<ProfileRequest>,
) -> Result<Json<ProfileResponse>, ApiError> {
    let profile = app
        .identity
        .rename(session.account.id, &req.display_name)
        .await?;
    let locks = app.gates.no_show_locks_of(session.account.id).await?;
    Ok(Json(ProfileResponse {
        booking_locks: locks.into_iter().map(Into::into).collect(),
        account: profile.account.into(),
        phone: profile.phone,
        signed_in_with: session.method.as_str().to_owned(),
    }))
}

fn fields(req: FrequentVisitorRequest) -> VisitorFields {
    VisitorFields::new(req.name, req.id_type.into(), req.id_number, req.phone)
}

/// The frequent-visitor list, masked.
#[utoipa::path(get, path = "/api/v1/me/visitors", tag = "me", security(("bearer" = ["self_service"])),
    responses((status = 200, body = FrequentVisitorListResponse), (status = 401, body = ErrorBody)))]
pub async fn list_visitors(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<Json<FrequentVisitorListResponse>, ApiError> {
    let visitors = app.identity.list_visitors(session.account.id).await?;
    Ok(Json(FrequentVisitorListResponse {
        visitors: visitors.into_iter().map(Into::into).collect(),
        max: app.identity.config().max_frequent_visitors,
    }))
}

/// Add a person to the frequent-visitor list.
#[utoipa::path(post, path = "/api/v1/me/visitors", tag = "me", security(("bearer" = ["self_service"])), request_body = FrequentVisitorRequest,
    responses((status = 201, body = FrequentVisitorResponse), (status = 409, body = ErrorBody, description = "visitor_limit_reached, duplicate_visitor"),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody, description = "rate_limited: the ID number is over a traffic-protection limit")))]
pub async fn add_visitor(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<FrequentVisitorRequest>,
) -> Result<(StatusCode, Json<FrequentVisitorResponse>), ApiError> {
    let v = save(&app, session.account.id, None, req).await?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

/// Adds a frequent visitor, or replaces visitor `id`'s fields, as `POST` and `PUT
/// /api/v1/me/visitors` do (the web app's forms come here too): the ID number counted by
/// traffic protection first either way, so editing cannot cycle ID numbers past the limit.
pub async fn save(
    app: &AppState,
    account: gatehouse_domain::order::AccountId,
    id: Option<&str>,
    req: FrequentVisitorRequest,
) -> Result<gatehouse_identity::MaskedVisitor, ApiError> {
    crate::subjects::count_id_number(
        app,
        "POST",
        "/api/v1/me/visitors",
        &req.id_number,
        "id_number",
    )
    .await?;
    Ok(match id {
        None => app.identity.add_visitor(account, &fields(req)).await?,
        Some(id) => {
            app.identity
                .update_visitor(account, id, &fields(req))
                .await?
        }
    })
}

/// One frequent visitor, masked.
#[utoipa::path(get, path = "/api/v1/me/visitors/{id}", tag = "me", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    responses((status = 200, body = FrequentVisitorResponse), (status = 404, body = ErrorBody)))]
pub async fn get_visitor(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FrequentVisitorResponse>, ApiError> {
    Ok(Json(
        app.identity
            .get_visitor(session.account.id, &id)
            .await?
            .into(),
    ))
}

/// Replace a frequent visitor's details.
#[utoipa::path(put, path = "/api/v1/me/visitors/{id}", tag = "me", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    request_body = FrequentVisitorRequest,
    responses((status = 200, body = FrequentVisitorResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited: the ID number is over a traffic-protection limit")))]
pub async fn update_visitor(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<FrequentVisitorRequest>,
) -> Result<Json<FrequentVisitorResponse>, ApiError> {
    Ok(Json(
        save(&app, session.account.id, Some(&id), req).await?.into(),
    ))
}

/// Remove a person from the frequent-visitor list.
#[utoipa::path(delete, path = "/api/v1/me/visitors/{id}", tag = "me", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_visitor(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.identity.delete_visitor(session.account.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
