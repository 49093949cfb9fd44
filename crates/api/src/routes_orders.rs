//! Visitor routes: book, list and read orders, cancel unpaid ones, refund tickets.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gatehouse_booking::{PlaceOrder, VisitorInput};
use gatehouse_domain::catalogue::{SlotId, TicketTypeId};
use gatehouse_domain::order::{OrderId, TicketId};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::wire::*;
use crate::AppState;

const MAX_IDEMPOTENCY_KEY: usize = 128;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?
        .trim();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::field(
            "Idempotency-Key",
            "must be 1 to 128 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "orders", security(("bearer" = [])),
    responses((status = 200, body = AccountResponse), (status = 401, body = ErrorBody)))]
pub async fn me(Caller(account): Caller) -> Json<AccountResponse> {
    Json(account.into())
}

/// Book a slot. Free orders are confirmed at once; paid ones hold their stock until paid or
/// expired. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the same order")),
    request_body = PlaceOrderRequest,
    responses((status = 201, body = OrderResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "window_closed, sold_out, id_limit_reached, order_limit_reached, notice_outdated"),
        (status = 422, body = ErrorBody)))]
pub async fn place_order(
    State(app): State<AppState>,
    Caller(account): Caller,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PlaceOrderRequest>,
) -> Result<(StatusCode, Json<OrderResponse>), ApiError> {
    let key = idempotency_key(&headers)?;
    let place = PlaceOrder {
        slot_id: SlotId(req.slot_id),
        notice_version: req.notice_version,
        contact_phone: req.contact_phone,
        tickets: req
            .tickets
            .into_iter()
            .map(|t| {
                (
                    TicketTypeId(t.ticket_type_id),
                    VisitorInput {
                        name: t.visitor.name,
                        id_kind: t.visitor.id_type.into(),
                        id_number: t.visitor.id_number,
                    },
                )
            })
            .collect(),
    };
    let order = app.service.place_order(&account, place, key).await?;
    Ok((StatusCode::CREATED, Json(order.into())))
}

/// The caller's orders, newest first, optionally of one kind.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(("kind" = Option<Kind>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = OrderListResponse), (status = 401, body = ErrorBody)))]
pub async fn list_orders(
    State(app): State<AppState>,
    Caller(account): Caller,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> Result<Json<OrderListResponse>, ApiError> {
    let orders = app
        .service
        .list_orders(account.id, q.kind.map(Into::into), q.limit.unwrap_or(20))
        .await?;
    Ok(Json(OrderListResponse {
        orders: orders.into_iter().map(Into::into).collect(),
    }))
}

/// One order with its tickets (visitors masked) and history.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(app): State<AppState>,
    Caller(account): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    Ok(Json(
        app.service.get_order(&account, &OrderId(id)).await?.into(),
    ))
}

/// Cancel an unpaid order; its stock returns at once.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_order(
    State(app): State<AppState>,
    Caller(account): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    Ok(Json(
        app.service
            .cancel_order(&account, &OrderId(id))
            .await?
            .into(),
    ))
}

/// Refund some or all tickets of a confirmed order before its slot starts.
#[utoipa::path(post, path = "/api/v1/orders/{id}/refund", tag = "orders", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RefundRequest,
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn refund(
    State(app): State<AppState>,
    Caller(account): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RefundRequest>,
) -> Result<Json<OrderResponse>, ApiError> {
    if req.ticket_ids.len() > 50 {
        return Err(ApiError::field("ticket_ids", "at most 50 tickets at once"));
    }
    if let Some(r) = &req.reason {
        gatehouse_domain::catalogue::text_field("reason", r, 1, 500)?;
    }
    let ids: Vec<TicketId> = req.ticket_ids.into_iter().map(TicketId).collect();
    Ok(Json(
        app.service
            .refund_tickets(&account, &OrderId(id), &ids, req.reason.as_deref())
            .await?
            .into(),
    ))
}
