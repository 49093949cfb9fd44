//! The HTTP adapter of Gatehouse: the axum router under `/api/v1`, JSON wire types, the one
//! mapping from domain errors to HTTP, request limits, and the OpenAPI 3.1 document served at
//! `/api/openapi.json`.
//!
//! API boundary: only this crate knows axum. Routes are registered through `utoipa-axum`, so a
//! route cannot exist without its entry in the OpenAPI document.

pub mod auth;
pub mod error;
pub mod extract;
pub mod risk_checks;
mod routes_admin;
mod routes_auth;
pub mod routes_breaches;
pub mod routes_consents;
mod routes_face;
mod routes_gates;
mod routes_groups;
pub mod routes_me;
pub mod routes_measures;
pub mod routes_no_shows;
pub mod routes_orders;
mod routes_payments;
mod routes_public;
pub mod routes_releases;
pub mod routes_requests;
pub mod routes_reveal;
mod routes_rights;
pub mod routes_risk;
mod routes_seats;
mod routes_tickets;
mod routes_traffic;
mod subjects;
pub mod wire;
pub mod wire_gates;
pub mod wire_identity;
pub mod wire_payments;
pub mod wire_risk;
pub mod wire_traffic;

pub use routes_no_shows::sweep_no_shows;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_booking::BookingService;
use gatehouse_gates::GateService;
use gatehouse_identity::IdentityService;
use gatehouse_payments::PaymentService;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Request line plus headers larger than this are refused with 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What every route shares, behind one reference count: a request clones and drops the state
/// several times on its way through the layers, and one count is cheaper than seven.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// A state whose services are changed (a test's other node) gets its own copy first.
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut Services {
        Arc::make_mut(&mut self.0)
    }
}

/// The services behind [`AppState`].
#[derive(Clone)]
pub struct Services {
    pub service: Arc<BookingService>,
    pub identity: Arc<IdentityService>,
    pub payments: Arc<PaymentService>,
    pub gates: Arc<GateService>,
    pub groups: Arc<gatehouse_groups::GroupService>,
    /// Traffic protection: every request passes it before any route runs.
    pub edge: Arc<gatehouse_edge::Edge>,
    /// The waiting room: protected releases and their lines.
    pub queue: Arc<gatehouse_queue::WaitingRoomService>,
    /// Risk control: assessments, decisions, policies.
    pub risk: Arc<gatehouse_risk_service::RiskService>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse", description = "Timed, real-name museum booking with its own risk control."),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody)),
    tags((name = "catalogue", description = "Products, slots and availability"), (name = "orders", description = "Booking, cancelling and refunding"), (name = "auth", description = "Sign-in and sessions"), (name = "me", description = "The visitor's profile and frequent visitors"), (name = "face", description = "Face verification with consent"), (name = "payments", description = "Paying, provider notifications, money ledgers and reconciliation"), (name = "gates", description = "Gate devices, check-in online and offline, live counts"), (name = "groups", description = "Group bookings: organisations and member lists"), (name = "traffic", description = "Traffic protection: block and allow lists"), (name = "risk", description = "Risk control: assessments, decisions, policies, replays, usage"), (name = "admin", description = "Staff operations"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Gate devices present their own credential (`ghgate_…`), never a session.
        components.add_security_scheme(
            "gate_device",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes_public::list_products))
        .routes(routes!(routes_public::product))
        .routes(routes!(routes_public::product_slots))
        .routes(routes!(routes_public::slot))
        .routes(routes!(routes_auth::send_phone_code))
        .routes(routes!(routes_auth::phone_sign_in))
        .routes(routes!(routes_auth::alipay_sign_in))
        .routes(routes!(routes_auth::wechat_sign_in))
        .routes(routes!(routes_auth::staff_sso_start))
        .routes(routes!(routes_auth::staff_sso_callback))
        .routes(routes!(routes_auth::refresh))
        .routes(routes!(routes_auth::sign_out))
        .routes(routes!(routes_auth::sign_out_everywhere))
        .routes(routes!(routes_auth::break_glass))
        .routes(routes!(
            routes_me::me,
            routes_me::update_me,
            routes_requests::erase_me
        ))
        .routes(routes!(
            routes_requests::file_mine,
            routes_requests::list_mine
        ))
        .routes(routes!(routes_requests::correct_contact_phone))
        .routes(routes!(
            routes_requests::list_for_staff,
            routes_requests::file_for_visitor
        ))
        .routes(routes!(routes_requests::answer))
        .routes(routes!(routes_requests::carry_out_erasure))
        .routes(routes!(routes_breaches::open, routes_breaches::list))
        .routes(routes!(routes_breaches::get))
        .routes(routes!(routes_breaches::notify))
        .routes(routes!(routes_breaches::mine))
        .routes(routes!(routes_rights::data_export))
        .routes(routes!(routes_consents::texts))
        .routes(routes!(routes_consents::mine, routes_consents::give))
        .routes(routes!(routes_consents::withdraw))
        .routes(routes!(routes_me::list_visitors, routes_me::add_visitor))
        .routes(routes!(
            routes_me::get_visitor,
            routes_me::update_visitor,
            routes_me::delete_visitor
        ))
        .routes(routes!(routes_face::consent_text))
        .routes(routes!(
            routes_face::give_consent,
            routes_face::current_consent,
            routes_face::withdraw_consent
        ))
        .routes(routes!(routes_face::start_verification))
        .routes(routes!(routes_face::get_verification))
        .routes(routes!(routes_face::check_verification))
        .routes(routes!(routes_face::callback))
        .routes(routes!(
            routes_orders::place_order,
            routes_orders::list_orders
        ))
        .routes(routes!(routes_orders::get_order))
        .routes(routes!(routes_orders::cancel_order))
        .routes(routes!(routes_orders::refund))
        .routes(routes!(routes_admin::create_product))
        .routes(routes!(
            routes_admin::update_product,
            routes_admin::delete_product
        ))
        .routes(routes!(routes_admin::publish_notice))
        .routes(routes!(routes_admin::create_ticket_type))
        .routes(routes!(
            routes_admin::update_ticket_type,
            routes_admin::delete_ticket_type
        ))
        .routes(routes!(routes_admin::create_slot))
        .routes(routes!(
            routes_admin::set_capacity,
            routes_admin::delete_slot
        ))
        .routes(routes!(routes_admin::lock_account))
        .routes(routes!(routes_admin::set_roles))
        .routes(routes!(routes_admin::audit_trail))
        .routes(routes!(routes_admin::sms_outbox))
        .routes(routes!(routes_admin::get_order))
        .routes(routes!(routes_admin::cancel_order))
        .routes(routes!(routes_admin::refund))
        .routes(routes!(routes_reveal::reveal))
        .routes(routes!(routes_tickets::ticket_qr))
        .routes(routes!(routes_payments::pay))
        .routes(routes!(routes_payments::order_money))
        .routes(routes!(routes_payments::notify_wechat_pay))
        .routes(routes!(routes_payments::notify_alipay))
        .routes(routes!(routes_payments::admin_order_money))
        .routes(routes!(
            routes_payments::reconciliation,
            routes_payments::run_reconciliation
        ))
        .routes(routes!(routes_payments::security_events))
        .routes(routes!(
            routes_gates::register_device,
            routes_gates::list_devices
        ))
        .routes(routes!(routes_gates::revoke_device))
        .routes(routes!(routes_gates::check_in_counts))
        .routes(routes!(routes_gates::double_uses))
        .routes(routes!(routes_gates::scan))
        .routes(routes!(routes_gates::bundle))
        .routes(routes!(routes_gates::upload))
        .routes(routes!(routes_no_shows::list_locks))
        .routes(routes!(routes_no_shows::lift_lock))
        .routes(routes!(routes_seats::put_seat_map))
        .routes(routes!(routes_seats::list_seat_maps))
        .routes(routes!(routes_seats::showing_seats))
        .routes(routes!(routes_groups::check_members))
        .routes(routes!(
            routes_groups::register_organisation,
            routes_groups::my_organisations
        ))
        .routes(routes!(routes_groups::list_organisations))
        .routes(routes!(routes_groups::decide_organisation))
        .routes(routes!(routes_groups::set_group_capacity))
        .routes(routes!(routes_groups::book_group))
        .routes(routes!(
            routes_traffic::list_entries,
            routes_traffic::add_entry
        ))
        .routes(routes!(routes_traffic::remove_entry))
        .routes(routes!(routes_traffic::usage))
        .routes(routes!(routes_traffic::challenge_sms_code))
        .routes(routes!(routes_traffic::challenge_sms_verify))
        .routes(routes!(routes_releases::protect))
        .routes(routes!(routes_releases::list))
        .routes(routes!(routes_releases::join))
        .routes(routes!(routes_releases::mine))
        .routes(routes!(routes_releases::report))
        .routes(routes!(routes_risk::assess))
        .routes(routes!(routes_risk::decisions))
        .routes(routes!(routes_risk::policies, routes_risk::load_policy))
        .routes(routes!(routes_risk::choose_policies))
        .routes(routes!(routes_risk::replay))
        .routes(routes!(routes_risk::usage))
        .routes(routes!(routes_measures::take, routes_measures::list))
        .routes(routes!(routes_measures::lift))
        .routes(routes!(routes_measures::mine))
}

/// Lets the edge key requests by the account behind a cached session.
struct CachedSessions(Arc<IdentityService>);

impl gatehouse_edge::AccountResolver for CachedSessions {
    fn cached_account(&self, bearer: &str) -> Option<gatehouse_domain::AccountId> {
        self.0.cached_account(bearer)
    }
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    router_with_pages(state, Router::new())
}

/// The whole HTTP application with `pages` (the web app) beside the API, behind the same
/// traffic protection, firewall and request log.
pub fn router_with_pages(state: AppState, pages: Router<AppState>) -> Router {
    state
        .edge
        .resolve_accounts(Arc::new(CachedSessions(state.identity.clone())));
    state.edge.offer_sms();
    let (routes, doc) = api().split_for_parts();
    let doc = Arc::new(doc);
    routes
        .merge(pages)
        .route(
            "/api/openapi.json",
            get(move || std::future::ready(Json(doc.as_ref().clone()))),
        )
        .route("/health", get(|| std::future::ready("ok")))
        .fallback(|| std::future::ready(ApiError::NoRoute))
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // The firewall reads the body (up to its limit) before any extractor does, and only
        // for requests the shield let through and whose headers are within bounds.
        .layer(middleware::from_fn_with_state(
            state.edge.clone(),
            gatehouse_edge::firewall::inspect,
        ))
        .layer(middleware::from_fn(request_log))
        // Outside the log and every parser: a refused request costs a verdict, nothing more.
        .layer(middleware::from_fn_with_state(
            state.edge.clone(),
            gatehouse_edge::protect,
        ))
        // The waiting page's poll, answered from memory before everything else (see there).
        .layer(middleware::from_fn_with_state(
            state,
            routes_releases::fast_poll,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            ApiError::Internal.into_response()
        }))
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// Logs each request by its route pattern (never its path or query, which may carry personal
/// data), with a request id echoed in `X-Request-Id` so a 5xx can be traced in the log. A
/// request whose head is over `MAX_HEADER_BYTES` goes no further (431), logged like the rest;
/// one layer for both, since every layer costs each request a copy of the stack below it.
async fn request_log(req: Request, next: Next) -> Response {
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "-".into());
    let started = std::time::Instant::now();
    let mut response = if gatehouse_edge::head_bytes(&req) > MAX_HEADER_BYTES {
        ApiError::HeadersTooLarge.into_response()
    } else {
        next.run(req).await
    };
    let status = response.status().as_u16();
    let elapsed: Duration = started.elapsed();
    if status >= 500 {
        tracing::error!(request_id = id, %method, route, status, ms = elapsed.as_secs_f64() * 1e3, "request failed");
    } else {
        tracing::debug!(request_id = id, %method, route, status, ms = elapsed.as_secs_f64() * 1e3, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
