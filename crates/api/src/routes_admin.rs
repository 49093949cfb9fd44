//! Staff routes: catalogue changes, any visitor's orders, account locks, roles, the audit
//! trail and the local SMS outbox. Each route names the one permission it needs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gatehouse_domain::catalogue::{NewSlot, ProductId, SlotId, TicketTypeId};
use gatehouse_domain::order::AccountId;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::wire::*;
use crate::wire_identity::*;
use crate::AppState;

/// Create a product.
#[utoipa::path(post, path = "/api/v1/admin/products", tag = "admin", security(("bearer" = ["catalogue_manage"])), request_body = ProductRequest,
    responses((status = 201, body = ProductResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_product(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
    ApiJson(req): ApiJson<ProductRequest>,
) -> Result<(StatusCode, Json<ProductResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.service.create_product(req.into_spec()?).await?.into()),
    ))
}

/// Replace a product's description and rules (its kind cannot change).
#[utoipa::path(put, path = "/api/v1/admin/products/{id}", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)), request_body = ProductRequest,
    responses((status = 200, body = ProductResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_product(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
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
#[utoipa::path(delete, path = "/api/v1/admin/products/{id}", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_product(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.service.delete_product(ProductId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a new version of a product's visiting notice; bookings must accept it from now on.
#[utoipa::path(post, path = "/api/v1/admin/products/{id}/notices", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)), request_body = NoticeRequest,
    responses((status = 201, body = NoticeResponse), (status = 404, body = ErrorBody)))]
pub async fn publish_notice(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
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
#[utoipa::path(post, path = "/api/v1/admin/products/{id}/ticket-types", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)), request_body = TicketTypeRequest,
    responses((status = 201, body = TicketTypeResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_ticket_type(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
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
#[utoipa::path(put, path = "/api/v1/admin/ticket-types/{id}", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)), request_body = TicketTypeRequest,
    responses((status = 200, body = TicketTypeResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_ticket_type(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
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
#[utoipa::path(delete, path = "/api/v1/admin/ticket-types/{id}", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_ticket_type(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.service.delete_ticket_type(TicketTypeId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a dated slot (a showing, for cinema) with its capacity.
#[utoipa::path(post, path = "/api/v1/admin/products/{id}/slots", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)), request_body = SlotRequest,
    responses((status = 201, body = SlotResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_slot(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
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
#[utoipa::path(patch, path = "/api/v1/admin/slots/{id}", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)), request_body = CapacityRequest,
    responses((status = 200, body = SlotResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_capacity(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
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
#[utoipa::path(delete, path = "/api/v1/admin/slots/{id}", tag = "admin", security(("bearer" = ["catalogue_manage"])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_slot(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.service.delete_slot(SlotId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lock an account from booking until an instant, or lift the lock.
#[utoipa::path(put, path = "/api/v1/admin/accounts/{id}/lock", tag = "admin", security(("bearer" = ["accounts_lock"])), params(("id" = i64, Path)), request_body = LockRequest,
    responses((status = 200, body = AccountResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn lock_account(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::AccountsLock>,
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
    let account = app.service.set_account_lock(AccountId(id), until).await?;
    // The lock must be seen by the next request, not when the cached session expires.
    app.identity.forget_account(account.id);
    app.identity
        .audit(
            Some(staff.account.id),
            "account_locked",
            &format!("account {} until {:?}", id, until.map(|t| t.to_string())),
        )
        .await;
    Ok(Json(account.into()))
}

/// Grant an account its roles (replacing the ones it had).
#[utoipa::path(put, path = "/api/v1/admin/accounts/{id}/roles", tag = "admin", security(("bearer" = ["staff_manage"])), params(("id" = i64, Path)), request_body = RolesRequest,
    responses((status = 200, body = AccountResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_roles(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::StaffManage>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RolesRequest>,
) -> Result<Json<AccountResponse>, ApiError> {
    let roles = gatehouse_domain::access::Roles::parse(&req.roles.join(","))
        .map_err(|m| ApiError::field("roles", m))?;
    if req.roles.iter().any(|r| r.contains(',')) {
        return Err(ApiError::field("roles", "one role name per entry"));
    }
    if staff.account.id == AccountId(id)
        && !roles.contains(gatehouse_domain::access::Role::Administrator)
    {
        return Err(ApiError::field(
            "roles",
            "administrators cannot remove their own administrator role",
        ));
    }
    app.identity
        .set_roles(staff.account.id, AccountId(id), roles)
        .await?;
    Ok(Json(
        app.identity.profile(AccountId(id)).await?.account.into(),
    ))
}

/// The audit log, newest first: sign-ins, failures, role changes, locks, every reveal and
/// export of personal data. Auditors search it by actor, action, record and time, and export
/// it (`format=jsonl`); each export is itself recorded.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = ["audit_read"])),
    params(AuditQuery),
    responses((status = 200, body = AuditListResponse), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_trail(
    State(app): State<AppState>,
    staff: Allowed<perm::AuditRead>,
    ip: crate::auth::ClientIp,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let instant =
        |field: &'static str, v: &Option<String>| -> Result<Option<jiff::Timestamp>, ApiError> {
            v.as_deref()
                .map(|t| {
                    t.parse()
                        .map_err(|_| ApiError::field(field, "is not an RFC 3339 instant"))
                })
                .transpose()
        };
    let filter = gatehouse_domain::audit::AuditFilter {
        actor: q.actor.map(AccountId),
        action: q.action.clone(),
        subject: q.subject.clone(),
        since: instant("since", &q.since)?,
        until: instant("until", &q.until)?,
        after_seq: None,
    };
    let export = match q.format.as_deref() {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(_) => return Err(ApiError::field("format", "is json or jsonl")),
    };
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let records = app.identity.audit_trail(&filter, limit).await?;
    if !export {
        return Ok(Json(AuditListResponse {
            events: records.into_iter().map(Into::into).collect(),
        })
        .into_response());
    }
    let mut entry = gatehouse_domain::audit::AuditEntry::new(
        app.identity.now(),
        Some(staff.0.account.id),
        "audit_export",
        &format!("{} records", records.len()),
    );
    entry.role = Some(staff.0.account.roles.to_string());
    entry.origin = Some(ip.origin());
    app.identity.record_durably(entry).await?;
    let mut body = String::new();
    for r in records {
        body.push_str(&serde_json::to_string(&AuditEventResponse::from(r)).unwrap_or_default());
        body.push('\n');
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

/// The local SMS provider's outbox (demo and tests; 404 with a real provider).
#[utoipa::path(get, path = "/api/v1/admin/sms-outbox", tag = "admin", security(("bearer" = ["sms_outbox_read"])),
    params(("phone" = Option<String>, Query)),
    responses((status = 200, body = OutboxResponse), (status = 404, body = ErrorBody)))]
pub async fn sms_outbox(
    State(app): State<AppState>,
    _: Allowed<perm::SmsOutboxRead>,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> Result<Json<OutboxResponse>, ApiError> {
    let phone = match q.phone.as_deref() {
        Some(p) => Some(
            gatehouse_domain::identity::Phone::parse(p).map_err(|m| ApiError::field("phone", m))?,
        ),
        None => None,
    };
    let messages = app
        .identity
        .sms()
        .outbox(phone.as_ref().map(|p| p.as_str()))
        .ok_or(ApiError::NoRoute)?;
    Ok(Json(OutboxResponse {
        messages: messages
            .into_iter()
            .map(|m| OutboxMessage {
                phone: m.phone,
                text: m.text,
                sent_at: m.sent_at.to_string(),
            })
            .collect(),
    }))
}

/// Any visitor's order (personal data masked).
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}", tag = "admin", security(("bearer" = ["orders_read"])), params(("id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::OrdersRead>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    crate::routes_orders::read_order(&app, &staff.account, id).await
}

/// Cancel any visitor's unpaid order.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/cancel", tag = "admin", security(("bearer" = ["orders_manage"])), params(("id" = String, Path)),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_order(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::OrdersManage>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    crate::routes_orders::cancel(&app, &staff.account, id).await
}

/// Refund tickets of any visitor's order.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/refund", tag = "admin", security(("bearer" = ["orders_manage"])), params(("id" = String, Path)),
    request_body = RefundRequest,
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn refund(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::OrdersManage>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RefundRequest>,
) -> Result<Json<OrderResponse>, ApiError> {
    crate::routes_orders::refund_order(&app, &staff.account, id, req).await
}
