//! Payment routes: paying an order, its money, the providers' notification endpoints (public,
//! authenticated by the providers' signatures), and the staff's reconciliation reports and
//! security events.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gatehouse_domain::order::OrderId;
use gatehouse_domain::payment::PaymentProvider;

use crate::auth::{perm, Allowed, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::wire_payments::*;
use crate::AppState;

/// Pay an unpaid order: creates the payment at the chosen provider (or returns the open one
/// for the same channel) and what the client pays it with.
#[utoipa::path(post, path = "/api/v1/orders/{id}/pay", tag = "payments", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    request_body = PayRequest,
    responses((status = 200, body = CheckoutResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn pay(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    headers: axum::http::HeaderMap,
    extensions: axum::http::Extensions,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PayRequest>,
) -> Result<Json<CheckoutResponse>, ApiError> {
    let channel = req.channel()?;
    let path = format!("/api/v1/orders/{id}/pay");
    let acting = crate::risk_checks::Acting {
        session: &session,
        headers: &headers,
        extensions: &extensions,
        method: &axum::http::Method::POST,
        path: &path,
    };
    let payer = crate::risk_checks::check_payment(&app, &acting, req.payer.as_deref()).await?;
    let checkout = app
        .payments
        .pay(
            &session.account,
            &OrderId(id),
            channel,
            req.payer.as_deref(),
        )
        .await?;
    crate::risk_checks::paid(&app, &payer);
    Ok(Json(checkout.into()))
}

/// The money of one of my orders: its payments, its money ledger and its refunds.
#[utoipa::path(get, path = "/api/v1/orders/{id}/payments", tag = "payments", security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    responses((status = 200, body = OrderMoneyResponse), (status = 404, body = ErrorBody)))]
pub async fn order_money(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderMoneyResponse>, ApiError> {
    Ok(Json(
        app.payments
            .order_money(&session.account, &OrderId(id))
            .await?
            .into(),
    ))
}

/// Any order's money (staff).
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}/payments", tag = "admin", security(("bearer" = ["orders_read"])), params(("id" = String, Path)),
    responses((status = 200, body = OrderMoneyResponse), (status = 404, body = ErrorBody)))]
pub async fn admin_order_money(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::OrdersRead>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderMoneyResponse>, ApiError> {
    Ok(Json(
        app.payments
            .order_money(&session.account, &OrderId(id))
            .await?
            .into(),
    ))
}

fn lower_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// WeChat Pay's notification endpoint (`notify_url`). Verified by the `Wechatpay-*` signature
/// headers; answers 204 when applied, or `{code, message}` with 4xx so WeChat Pay retries.
#[utoipa::path(post, path = "/api/v1/payments/notify/wechat_pay", tag = "payments",
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn notify_wechat_pay(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    app.payments
        .notify(
            PaymentProvider::WeChatPay,
            &lower_headers(&headers),
            &body,
            Some(ip),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Alipay's asynchronous notification endpoint (`notify_url`), a signed form; answers the text
/// `success` when applied (anything else makes Alipay retry).
#[utoipa::path(post, path = "/api/v1/payments/notify/alipay", tag = "payments",
    responses((status = 200, body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn notify_alipay(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    app.payments
        .notify(
            PaymentProvider::Alipay,
            &lower_headers(&headers),
            &body,
            Some(ip),
        )
        .await?;
    Ok("success")
}

fn parse_reconciliation(
    req: &ReconciliationRequest,
) -> Result<(PaymentProvider, jiff::civil::Date), ApiError> {
    let provider = PaymentProvider::parse(&req.provider)
        .ok_or_else(|| ApiError::field("provider", "must be wechat_pay or alipay"))?;
    let day = req
        .day
        .parse()
        .map_err(|_| ApiError::field("day", "must be a date, YYYY-MM-DD"))?;
    Ok((provider, day))
}

/// A stored reconciliation report of one provider's day.
#[utoipa::path(get, path = "/api/v1/admin/reconciliations", tag = "admin", security(("bearer" = ["payments_reconcile"])),
    params(ReconciliationRequest),
    responses((status = 200, body = ReconciliationResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reconciliation(
    State(app): State<AppState>,
    _: Allowed<perm::PaymentsReconcile>,
    ApiQuery(q): ApiQuery<ReconciliationRequest>,
) -> Result<Json<ReconciliationResponse>, ApiError> {
    let (provider, day) = parse_reconciliation(&q)?;
    let report = app
        .payments
        .reconciliation(provider, day)
        .await?
        .ok_or(ApiError::Domain(gatehouse_domain::BookingError::NotFound {
            what: "reconciliation report",
        }))?;
    Ok(Json(report.into()))
}

/// Reconcile one provider's day now (downloads the bill; replaces an earlier report).
#[utoipa::path(post, path = "/api/v1/admin/reconciliations", tag = "admin", security(("bearer" = ["payments_reconcile"])),
    request_body = ReconciliationRequest,
    responses((status = 200, body = ReconciliationResponse), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn run_reconciliation(
    State(app): State<AppState>,
    _: Allowed<perm::PaymentsReconcile>,
    ApiJson(req): ApiJson<ReconciliationRequest>,
) -> Result<Json<ReconciliationResponse>, ApiError> {
    let (provider, day) = parse_reconciliation(&req)?;
    Ok(Json(app.payments.reconcile(provider, day).await?.into()))
}

/// Security events, newest first (forged or replayed notifications, tampered amounts…).
#[utoipa::path(get, path = "/api/v1/admin/security-events", tag = "admin", security(("bearer" = ["security_events_read"])),
    responses((status = 200, body = SecurityEventsResponse), (status = 403, body = ErrorBody)))]
pub async fn security_events(
    State(app): State<AppState>,
    _: Allowed<perm::SecurityEventsRead>,
) -> Result<Json<SecurityEventsResponse>, ApiError> {
    Ok(Json(app.payments.security_events(200).await?.into()))
}
