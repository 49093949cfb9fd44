//! Staff routes (admin token required): catalogue changes, accounts and booking locks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::catalogue::{NewSlot, ProductId, SlotId, TicketTypeId};
use gatehouse_domain::order::AccountId;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiJson, ApiPath};
use crate::wire::*;
use crate::AppState;

/// Create a product.
#[utoipa::path(post, path = "/api/v1/admin/products", tag = "admin", security(("bearer" = [])), request_body = ProductRequest,
    responses((status = 201, body = ProductResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_product(
    State(app): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<ProductRequest>,
) -> Result<(StatusCode, Json<ProductResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.service.create_product(req.into_spec()?).await?.into()),
    ))
}

/// Replace a product's description and rules (its kind cannot change).
#[utoipa::path(put, path = "/api/v1/admin/products/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ProductRequest,
    responses((status = 200, body = ProductResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_product(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ProductRequest>,
) -> Result<Json<ProductResponse>, ApiError> {
    Ok(Json(
        app.service
            .update_product(ProductId(id), req.into_spec()?)
            .await?
            .into(),
    ))
}

/// Delete a product that has no orders.
#[utoipa::path(delete, path = "/api/v1/admin/products/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_product(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.service.delete_product(ProductId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a new version of a product's visiting notice; bookings must accept it from now on.
#[utoipa::path(post, path = "/api/v1/admin/products/{id}/notices", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = NoticeRequest,
    responses((status = 201, body = NoticeResponse), (status = 404, body = ErrorBody)))]
pub async fn publish_notice(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NoticeRequest>,
) -> Result<(StatusCode, Json<NoticeResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            app.service
                .publish_notice(ProductId(id), &req.text)
                .await?
                .into(),
        ),
    ))
}

/// Add a ticket type to a product.
#[utoipa::path(post, path = "/api/v1/admin/products/{id}/ticket-types", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = TicketTypeRequest,
    responses((status = 201, body = TicketTypeResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_ticket_type(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TicketTypeRequest>,
) -> Result<(StatusCode, Json<TicketTypeResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            app.service
                .create_ticket_type(ProductId(id), &req.name, req.price_fen)
                .await?
                .into(),
        ),
    ))
}

/// Rename or reprice a ticket type; tickets already sold keep their price.
#[utoipa::path(put, path = "/api/v1/admin/ticket-types/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = TicketTypeRequest,
    responses((status = 200, body = TicketTypeResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_ticket_type(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TicketTypeRequest>,
) -> Result<Json<TicketTypeResponse>, ApiError> {
    Ok(Json(
        app.service
            .update_ticket_type(TicketTypeId(id), &req.name, req.price_fen)
            .await?
            .into(),
    ))
}

/// Delete a ticket type nobody has bought.
#[utoipa::path(delete, path = "/api/v1/admin/ticket-types/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_ticket_type(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.service.delete_ticket_type(TicketTypeId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a dated slot (a showing, for cinema) with its capacity.
#[utoipa::path(post, path = "/api/v1/admin/products/{id}/slots", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = SlotRequest,
    responses((status = 201, body = SlotResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_slot(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SlotRequest>,
) -> Result<(StatusCode, Json<SlotResponse>), ApiError> {
    let new = NewSlot {
        product_id: ProductId(id),
        date: parse_date("date", &req.date)?,
        start: parse_time("start", &req.start)?,
        end: parse_time("end", &req.end)?,
        capacity: req.capacity,
    };
    let slot = app.service.create_slot(new).await?;
    let availability = app.service.slot_availability(slot.id)?;
    Ok((
        StatusCode::CREATED,
        Json(SlotResponse::from_availability(
            availability,
            app.service.clock().now(),
        )),
    ))
}

/// Change a slot's capacity (never below what is held or sold).
#[utoipa::path(patch, path = "/api/v1/admin/slots/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = CapacityRequest,
    responses((status = 200, body = SlotResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_capacity(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CapacityRequest>,
) -> Result<Json<SlotResponse>, ApiError> {
    let a = app
        .service
        .set_slot_capacity(SlotId(id), req.capacity)
        .await?;
    Ok(Json(SlotResponse::from_availability(
        a,
        app.service.clock().now(),
    )))
}

/// Delete a slot that has no orders.
#[utoipa::path(delete, path = "/api/v1/admin/slots/{id}", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_slot(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.service.delete_slot(SlotId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an account and return its bearer token (until visitor sign-in exists).
#[utoipa::path(post, path = "/api/v1/admin/accounts", tag = "admin", security(("bearer" = [])), request_body = AccountRequest,
    responses((status = 201, body = AccountCreatedResponse), (status = 403, body = ErrorBody)))]
pub async fn create_account(
    State(app): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<AccountRequest>,
) -> Result<(StatusCode, Json<AccountCreatedResponse>), ApiError> {
    let (account, token) = app
        .service
        .create_account(&req.display_name, req.is_admin)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountCreatedResponse {
            account: account.into(),
            token: token.0,
        }),
    ))
}

/// Lock an account from booking until an instant, or lift the lock.
#[utoipa::path(put, path = "/api/v1/admin/accounts/{id}/lock", tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)), request_body = LockRequest,
    responses((status = 200, body = AccountResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lock_account(
    State(app): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<LockRequest>,
) -> Result<Json<AccountResponse>, ApiError> {
    let until = match req.until {
        Some(s) => Some(s.parse::<jiff::Timestamp>().map_err(|_| {
            ApiError::field(
                "until",
                "must be an RFC 3339 instant like 2026-12-01T00:00:00Z",
            )
        })?),
        None => None,
    };
    Ok(Json(
        app.service
            .set_account_lock(AccountId(id), until)
            .await?
            .into(),
    ))
}
