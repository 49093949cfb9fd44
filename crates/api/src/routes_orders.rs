//! Visitor routes: book, list and read orders, cancel unpaid ones, refund tickets.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gatehouse_booking::{PlaceOrder, VisitorInput};
use gatehouse_domain::catalogue::{SlotId, TicketTypeId};
use gatehouse_domain::identity::{IdDocument, Phone};
use gatehouse_domain::order::{OrderId, TicketId};
use gatehouse_domain::personal::{PersonalField, Sensitive};
use gatehouse_domain::store::Account;
use gatehouse_identity::IdentityError;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
pub use crate::risk_checks::Acting;
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

/// Book a slot. Free orders are confirmed at once; paid ones hold their stock until paid or
/// expired. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", security(("bearer" = ["self_service"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the same order")),
    request_body = PlaceOrderRequest,
    responses((status = 201, body = OrderResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "window_closed, sold_out, id_limit_reached, order_limit_reached, notice_outdated, seat_taken, no_adjacent_seats"),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody, description = "rate_limited: a visitor's ID number is over a traffic-protection limit, with Retry-After")))]
pub async fn place_order(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    ApiJson(req): ApiJson<PlaceOrderRequest>,
) -> Result<(StatusCode, Json<OrderResponse>), ApiError> {
    let key = idempotency_key(&headers)?;
    let acting = Acting {
        session: &session,
        headers: &headers,
        extensions: &extensions,
        method: &axum::http::Method::POST,
        path: "/api/v1/orders",
    };
    let order = place(&app, &acting, req, key).await?;
    Ok((StatusCode::CREATED, Json(order.into())))
}

/// Places an order for the signed-in `session` as `POST /api/v1/orders` does (the web app's
/// booking pages come here too): during a protected release only with an admission from the
/// waiting room (its window closes once booked), frequent visitors opened, every ID number
/// counted by traffic protection, judged by risk control (see `risk_checks`), face passes
/// attached where the slot needs them. How long it took steers the waiting room's admission
/// rate.
pub async fn place(
    app: &AppState,
    acting: &Acting<'_>,
    req: PlaceOrderRequest,
    key: Option<String>,
) -> Result<gatehouse_booking::OrderDetails, ApiError> {
    let slot = req.slot_id;
    let admitted =
        crate::routes_releases::admission_guard(app, acting.session, acting.headers, slot).await?;
    let started = std::time::Instant::now();
    let placed = place_as(app, acting, req, key, admitted.map(|a| a.at)).await;
    app.queue.record_booking(started.elapsed());
    if let Some(crate::routes_releases::Admitted { release, place, .. }) = admitted {
        match &placed {
            Ok(_) => {
                // Booked: the window closes. If the log cannot say so now, the window simply
                // lapses at its end; the booking stands either way.
                if let Err(e) = app.queue.finish(release, place, true).await {
                    tracing::warn!(release, error = %e, "could not close an admission window");
                }
            }
            Err(ApiError::Domain(gatehouse_domain::BookingError::SoldOut { .. })) => {
                crate::routes_releases::sell_out_if_gone(app, release, slot).await;
            }
            Err(_) => {}
        }
    }
    placed
}

async fn place_as(
    app: &AppState,
    acting: &Acting<'_>,
    req: PlaceOrderRequest,
    key: Option<String>,
    admitted_at: Option<jiff::Timestamp>,
) -> Result<gatehouse_booking::OrderDetails, ApiError> {
    let account = &acting.session.account;
    let mut tickets = Vec::with_capacity(req.tickets.len());
    let seats: Vec<String> = req.tickets.iter().filter_map(|t| t.seat.clone()).collect();
    if !seats.is_empty() && seats.len() != req.tickets.len() {
        return Err(ApiError::field(
            "tickets",
            "choose a seat for every ticket, or none for the best available",
        ));
    }
    for (i, t) in req.tickets.into_iter().enumerate() {
        let visitor = match (t.visitor, t.visitor_id) {
            (Some(v), None) => VisitorInput::new(v.name, v.id_type.into(), v.id_number),
            (None, Some(id)) => {
                let mut opened = app
                    .identity
                    .open_visitors(account.id, &[id.as_str()])
                    .await
                    .map_err(|e| match e {
                        IdentityError::NotFound { .. } => ApiError::field(
                            format!("tickets[{i}].visitor_id"),
                            "is not on your frequent-visitor list",
                        ),
                        other => other.into(),
                    })?;
                let v = opened.pop().ok_or(ApiError::Internal)?;
                VisitorInput {
                    name: v.name,
                    id_kind: v.id_kind,
                    id_number: v.id_number,
                }
            }
            _ => {
                return Err(ApiError::field(
                    format!("tickets[{i}]"),
                    "give either visitor or visitor_id",
                ))
            }
        };
        crate::subjects::count_id_number(
            app,
            "POST",
            "/api/v1/orders",
            visitor.id_number.expose(),
            &format!("tickets[{i}]"),
        )
        .await?;
        tickets.push((TicketTypeId(t.ticket_type_id), visitor));
    }
    let id_numbers: Vec<String> = tickets
        .iter()
        .map(|(_, v)| IdDocument::normalised_number(v.id_number.expose()))
        .collect();
    let phone = Phone::parse(&req.contact_phone).ok();
    let who = crate::risk_checks::check_booking(
        app,
        acting,
        phone.as_ref().map(Phone::as_str),
        &id_numbers,
        admitted_at,
    )
    .await?;
    let slot_id = SlotId(req.slot_id);
    let face_passes = if app.service.requires_face_verification(slot_id) {
        app.identity.face_passes(account.id).await?
    } else {
        Vec::new()
    };
    let place = PlaceOrder {
        slot_id,
        notice_version: req.notice_version,
        contact_phone: Sensitive::new(PersonalField::ContactPhone, req.contact_phone),
        tickets,
        seats,
        face_passes,
        organisation: None,
    };
    let placed = app.service.place_order(account, place, key).await?;
    crate::risk_checks::booked(app, &who, id_numbers.len());
    Ok(placed)
}

/// The caller's orders, newest first, optionally of one kind.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = ["self_service"])),
    params(("kind" = Option<Kind>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = OrderListResponse), (status = 401, body = ErrorBody)))]
pub async fn list_orders(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> Result<Json<OrderListResponse>, ApiError> {
    let orders = app
        .service
        .list_orders(
            session.account.id,
            q.kind.map(Into::into),
            q.limit.unwrap_or(20),
        )
        .await?;
    Ok(Json(OrderListResponse {
        orders: orders.into_iter().map(Into::into).collect(),
    }))
}

/// One order with its tickets (visitors masked) and history.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    read_order(&app, &session.account, id).await
}

/// Cancel an unpaid order; its stock returns at once.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_order(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    cancel(&app, &session.account, id).await
}

/// Refund some or all tickets of a confirmed order before its slot starts.
#[utoipa::path(post, path = "/api/v1/orders/{id}/refund", tag = "orders", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    request_body = RefundRequest,
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn refund(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RefundRequest>,
) -> Result<Json<OrderResponse>, ApiError> {
    refund_order(&app, &session.account, id, req).await
}

// The bodies below serve both the visitor's routes (own orders only) and the staff routes in
// `routes_admin` (any order, for roles holding orders_read / orders_manage): the booking service
// decides ownership from the account's roles.

pub(crate) async fn read_order(
    app: &AppState,
    account: &Account,
    id: String,
) -> Result<Json<OrderResponse>, ApiError> {
    Ok(Json(
        app.service.get_order(account, &OrderId(id)).await?.into(),
    ))
}

pub async fn cancel(
    app: &AppState,
    account: &Account,
    id: String,
) -> Result<Json<OrderResponse>, ApiError> {
    let cancelled = app.payments.cancel_order(account, &OrderId(id)).await?;
    crate::risk_checks::history(
        app,
        cancelled.order.account_id,
        gatehouse_risk::features::Happening::Cancel,
    );
    Ok(Json(cancelled.into()))
}

/// Refunds tickets of an order (the visitor's own, or any for staff); the web app's refund
/// form comes here too.
pub async fn refund_order(
    app: &AppState,
    account: &Account,
    id: String,
    req: RefundRequest,
) -> Result<Json<OrderResponse>, ApiError> {
    if req.ticket_ids.len() > 50 {
        return Err(ApiError::field("ticket_ids", "at most 50 tickets at once"));
    }
    // A measure limits the visitor's own refunds; staff refunding for them are not limited.
    crate::risk_checks::refuse_if_measured(
        app,
        account.id,
        gatehouse_domain::measure::Function::Refund,
    )?;
    if let Some(r) = &req.reason {
        gatehouse_domain::catalogue::text_field("reason", r, 1, 500)?;
    }
    let ids: Vec<TicketId> = req.ticket_ids.into_iter().map(TicketId).collect();
    let refunded = app
        .payments
        .refund_tickets(account, &OrderId(id), &ids, req.reason.as_deref())
        .await?;
    // A refund within a day of booking is what "refund, then buy again" looks like.
    let soon = app
        .service
        .clock()
        .now()
        .duration_since(refunded.order.created_at)
        < jiff::SignedDuration::from_hours(24);
    crate::risk_checks::history(
        app,
        refunded.order.account_id,
        gatehouse_risk::features::Happening::Refund { soon },
    );
    Ok(Json(refunded.into()))
}
