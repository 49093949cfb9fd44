//! Public catalogue routes: products, their details and notices, slots with live availability.

use axum::extract::State;
use axum::Json;
use gatehouse_domain::catalogue::{ProductId, SlotId};
use jiff::Span;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::wire::*;
use crate::AppState;

/// All products, featured ones first.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalogue", responses((status = 200, body = ProductListResponse)))]
pub async fn list_products(State(app): State<AppState>) -> Json<ProductListResponse> {
    let mut products = app.service.list_products().products;
    products.sort_by_key(|p| (!p.spec.featured, p.id));
    Json(ProductListResponse {
        products: products.into_iter().map(Into::into).collect(),
    })
}

/// A product with its ticket types, current visiting notice and introduction.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = ProductDetailsResponse), (status = 404, body = ErrorBody)))]
pub async fn product(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProductDetailsResponse>, ApiError> {
    Ok(Json(
        app.service.product_details(ProductId(id)).await?.into(),
    ))
}

/// A product's slots between two dates with live availability and booking windows.
#[utoipa::path(get, path = "/api/v1/products/{id}/slots", tag = "catalogue", params(("id" = i64, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query)),
    responses((status = 200, body = SlotListResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn product_slots(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<SlotsQuery>,
) -> Result<Json<SlotListResponse>, ApiError> {
    crate::risk_checks::note_view(&app, &headers);
    let now = app.service.clock().now();
    let from = match q.from {
        Some(s) => parse_date("from", &s)?,
        None => now.to_zoned(app.service.museum_tz().clone()).date(),
    };
    let to = match q.to {
        Some(s) => parse_date("to", &s)?,
        None => from
            .checked_add(Span::new().days(7))
            .map_err(|_| ApiError::field("from", "is out of range"))?,
    };
    let slots = app.service.slots(ProductId(id), from, to).await?;
    Ok(Json(SlotListResponse {
        slots: slots
            .into_iter()
            .map(|a| SlotResponse::from_availability(a, now))
            .collect(),
    }))
}

/// One slot's live availability.
#[utoipa::path(get, path = "/api/v1/slots/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = SlotResponse), (status = 404, body = ErrorBody)))]
pub async fn slot(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SlotResponse>, ApiError> {
    let a = app.service.slot_availability(SlotId(id))?;
    crate::risk_checks::note_view(&app, &headers);
    Ok(Json(SlotResponse::from_availability(
        a,
        app.service.clock().now(),
    )))
}
