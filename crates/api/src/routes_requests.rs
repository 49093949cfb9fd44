//! Data-subject requests over HTTP. Visitors: `DELETE /api/v1/me` erases their account at once
//! (refused while a visit is ahead), `PUT /api/v1/orders/{id}/contact-phone` corrects an order,
//! `POST`/`GET /api/v1/me/data-requests` file and follow a request for staff. Staff holding
//! `data_requests_manage`: list requests by status or deadline (a bulk read of personal data,
//! audited), file one taken by phone or at the counter, move one forward with its outcome, and
//! carry out an erasure request.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_domain::access::Permission;
use gatehouse_domain::account::Account;
use gatehouse_domain::data_request::{DataRequest, RequestFilter, RequestKind, RequestStatus};
use gatehouse_domain::order::{AccountId, OrderId};
use gatehouse_domain::personal::{PersonalField, Sensitive};
use gatehouse_identity::requests::RequestView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{perm, Allowed, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;

/// The words a visitor must send to erase their account (so no client does it by accident).
pub const ERASE_CONFIRMATION: &str = "erase my account";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Exactly `erase my account`.
    pub confirm: String,
}

/// What an erasure did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasedResponse {
    pub erased: bool,
    /// Orders kept for the museum's accounts (counts, money), with no personal data left.
    pub orders_kept_without_personal_data: u64,
    pub tickets_kept_without_personal_data: u64,
    pub frequent_visitors_deleted: u64,
    /// The request that records it.
    pub request_id: String,
}

impl ErasedResponse {
    fn of(erased: &gatehouse_domain::data_key::Erasure, request_id: String) -> Self {
        Self {
            erased: true,
            orders_kept_without_personal_data: erased.orders,
            tickets_kept_without_personal_data: erased.tickets,
            frequent_visitors_deleted: erased.visitors,
            request_id,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDataRequest {
    /// `export`, `correction` or `erasure`.
    pub kind: String,
    /// What the person asks, in their words (a correction says what is wrong and what it should
    /// be). Kept sealed; up to 1,000 characters.
    #[serde(default)]
    pub request_text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffDataRequest {
    pub account_id: i64,
    pub kind: String,
    #[serde(default)]
    pub request_text: String,
    /// `phone`, `counter` or `letter`.
    pub channel: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// `in_progress`, `done` or `refused`.
    pub status: String,
    /// What was done, or why it was refused (required for a refusal). No personal data: auditors
    /// read it.
    pub outcome: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPhoneCorrection {
    pub contact_phone: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestQuery {
    /// `open`, `in_progress`, `done` or `refused`.
    pub status: Option<String>,
    /// Only unanswered requests past their deadline.
    pub overdue: Option<bool>,
    pub account_id: Option<i64>,
    pub limit: Option<u32>,
}

/// One request as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataRequestWire {
    pub id: String,
    pub account_id: i64,
    pub kind: &'static str,
    pub status: &'static str,
    /// The person's words (to the person, and to staff handling it).
    pub request_text: String,
    pub channel: String,
    pub received_at: String,
    pub due_at: String,
    pub overdue: bool,
    pub handled_by: Option<i64>,
    pub outcome: Option<String>,
    pub closed_at: Option<String>,
}

fn wire(v: &RequestView) -> DataRequestWire {
    let r = &v.request;
    DataRequestWire {
        id: r.id.clone(),
        account_id: r.account.0,
        kind: r.kind.as_str(),
        status: r.status.as_str(),
        request_text: v.request_text.expose().to_owned(),
        channel: r.channel.clone(),
        received_at: r.received_at.to_string(),
        due_at: r.due_at.to_string(),
        overdue: v.overdue,
        handled_by: r.handled_by.map(|a| a.0),
        outcome: r.outcome.clone(),
        closed_at: r.closed_at.map(|t| t.to_string()),
    }
}

fn kind(text: &str) -> Result<RequestKind, ApiError> {
    RequestKind::parse(text)
        .ok_or_else(|| ApiError::field("kind", "is export, correction or erasure"))
}

fn no_store<T: Serialize>(body: T) -> axum::response::Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn erase(
    app: &AppState,
    by: &gatehouse_domain::account::Account,
    account: AccountId,
) -> Result<gatehouse_domain::data_key::Erasure, ApiError> {
    let upcoming = app.service.upcoming_visits(account).await?;
    if upcoming > 0 {
        return Err(ApiError::Conflict {
            code: "erasure_waits_for_visits",
            message: format!(
                "{upcoming} orders are still ahead (unpaid, or tickets for today or later): cancel them or erase after the visit"
            ),
        });
    }
    Ok(app.identity.erase_account(by, account).await?)
}

/// Erase my account and everything that leads back to me (orders keep only counts and money).
#[utoipa::path(delete, path = "/api/v1/me", tag = "me", security(("bearer" = ["self_service"])),
    request_body = EraseRequest,
    responses((status = 200, body = ErasedResponse), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn erase_me(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<EraseRequest>,
) -> Result<axum::response::Response, ApiError> {
    if req.confirm != ERASE_CONFIRMATION {
        return Err(ApiError::field(
            "confirm",
            format!("must be exactly \"{ERASE_CONFIRMATION}\""),
        ));
    }
    let (erased, request) = erase_self(&app, &session.account).await?;
    Ok(no_store(ErasedResponse::of(&erased, request)))
}

/// A person erasing their own account (the API's `DELETE /api/v1/me` and the web app's form):
/// refused while a visit is ahead; the erasure, then the tracked request that records it (its
/// id).
pub async fn erase_self(
    app: &AppState,
    me: &gatehouse_domain::account::Account,
) -> Result<(gatehouse_domain::data_key::Erasure, String), ApiError> {
    let erased = erase(app, me, me.id).await?;
    // Recorded after: the record holds no words of the person, and names only the account.
    let request = app
        .identity
        .record_self_service(me.id, RequestKind::Erasure, "erased by the person")
        .await?;
    Ok((erased, request.id))
}

/// Correct the contact phone of one of my orders.
#[utoipa::path(put, path = "/api/v1/orders/{id}/contact-phone", tag = "orders",
    security(("bearer" = ["self_service"])), params(("id" = String, Path)),
    request_body = ContactPhoneCorrection,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn correct_contact_phone(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ContactPhoneCorrection>,
) -> Result<axum::http::StatusCode, ApiError> {
    correct_phone(&app, &session.account, &id, req.contact_phone).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Corrects the contact phone of one of `me`'s orders (the API route and the web app's order
/// page), recorded in the audit log with the new number masked.
pub async fn correct_phone(
    app: &AppState,
    me: &gatehouse_domain::account::Account,
    id: &str,
    phone: String,
) -> Result<(), ApiError> {
    let phone = Sensitive::new(PersonalField::ContactPhone, phone);
    app.service
        .correct_contact_phone(me, &OrderId(id.to_owned()), &phone)
        .await?;
    let mut entry = gatehouse_domain::audit::AuditEntry::new(
        app.identity.now(),
        Some(me.id),
        "contact_phone_corrected",
        &format!("now {}", phone.masked()),
    );
    entry.subject = Some(format!("order:{id}"));
    entry.field = Some("contact_phone".into());
    app.identity.record(entry).await;
    Ok(())
}

/// File a data request for staff (a correction of a real-name ticket, an erasure while a visit
/// is ahead, an export of something the self-service export does not cover).
#[utoipa::path(post, path = "/api/v1/me/data-requests", tag = "me", security(("bearer" = ["self_service"])),
    request_body = NewDataRequest,
    responses((status = 201, body = DataRequestWire), (status = 422, body = ErrorBody)))]
pub async fn file_mine(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiJson(req): ApiJson<NewDataRequest>,
) -> Result<axum::response::Response, ApiError> {
    let text = Sensitive::new(PersonalField::RequestText, req.request_text);
    let me = &session.account;
    let view = app
        .identity
        .file_data_request(me, me.id, kind(&req.kind)?, &text, "self_service")
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(wire(&view)),
    )
        .into_response())
}

/// My data requests, done at once or handled by staff.
#[utoipa::path(get, path = "/api/v1/me/data-requests", tag = "me", security(("bearer" = ["self_service"])),
    responses((status = 200, body = [DataRequestWire])))]
pub async fn list_mine(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
) -> Result<axum::response::Response, ApiError> {
    let views = app.identity.my_data_requests(session.account.id).await?;
    Ok(no_store(views.iter().map(wire).collect::<Vec<_>>()))
}

/// Data requests, oldest deadline first (audited: it shows the people's words).
#[utoipa::path(get, path = "/api/v1/admin/data-requests", tag = "admin",
    security(("bearer" = ["data_requests_manage"])), params(RequestQuery),
    responses((status = 200, body = [DataRequestWire]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_for_staff(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::DataRequestsManage>,
    ip: ClientIp,
    ApiQuery(q): ApiQuery<RequestQuery>,
) -> Result<axum::response::Response, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            RequestStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "is open, in_progress, done or refused"))
        })
        .transpose()?;
    let filter = RequestFilter {
        account: q.account_id.map(AccountId),
        status,
        due_before: q.overdue.unwrap_or(false).then(|| app.identity.now()),
    };
    let views = app
        .identity
        .data_requests_for_staff(
            &staff.account,
            &filter,
            q.limit.unwrap_or(100),
            Some(ip.origin()),
        )
        .await?;
    Ok(no_store(views.iter().map(wire).collect::<Vec<_>>()))
}

/// File a request taken by phone, at the counter or by letter.
#[utoipa::path(post, path = "/api/v1/admin/data-requests", tag = "admin",
    security(("bearer" = ["data_requests_manage"])), request_body = StaffDataRequest,
    responses((status = 201, body = DataRequestWire), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn file_for_visitor(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::DataRequestsManage>,
    ApiJson(req): ApiJson<StaffDataRequest>,
) -> Result<axum::response::Response, ApiError> {
    if req.channel == "self_service" {
        return Err(ApiError::field("channel", "is phone, counter or letter"));
    }
    let text = Sensitive::new(PersonalField::RequestText, req.request_text);
    let view = app
        .identity
        .file_data_request(
            &staff.account,
            AccountId(req.account_id),
            kind(&req.kind)?,
            &text,
            &req.channel,
        )
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(wire(&view)),
    )
        .into_response())
}

/// Take on, complete or refuse a request, saying what was done.
#[utoipa::path(post, path = "/api/v1/admin/data-requests/{id}", tag = "admin",
    security(("bearer" = ["data_requests_manage"])), params(("id" = String, Path)),
    request_body = AnswerRequest,
    responses((status = 200, body = DataRequestWire), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn answer(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::DataRequestsManage>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AnswerRequest>,
) -> Result<axum::response::Response, ApiError> {
    let updated = answer_request(&app, &staff.account, &id, &req).await?;
    Ok(no_store(DataRequestWire {
        request_text: String::new(),
        ..wire(&RequestView {
            overdue: updated.is_overdue(app.identity.now()),
            request_text: Sensitive::new(PersonalField::RequestText, ""),
            request: updated,
        })
    }))
}

/// Moves data request `id` on for `staff` (who must hold `data_requests_manage`, checked
/// here too): taken on, done or refused, with what was done. An erasure is done only by
/// carrying it out.
pub async fn answer_request(
    app: &AppState,
    staff: &Account,
    id: &str,
    req: &AnswerRequest,
) -> Result<DataRequest, ApiError> {
    if !staff.roles.allow(Permission::DataRequestsManage) {
        return Err(ApiError::Forbidden(Permission::DataRequestsManage.as_str()));
    }
    let to = match RequestStatus::parse(&req.status) {
        Some(s) if s != RequestStatus::Open => s,
        _ => return Err(ApiError::field("status", "is in_progress, done or refused")),
    };
    let current = app.identity.data_request(id).await?;
    if current.kind == RequestKind::Erasure && to == RequestStatus::Done {
        return Err(ApiError::Conflict {
            code: "erasure_not_done",
            message: "an erasure request is done by carrying it out: POST …/erase".into(),
        });
    }
    Ok(app
        .identity
        .answer_data_request(staff, id, to, req.outcome.as_deref())
        .await?)
}

/// Carry out an erasure request: the person's account is erased and the request done.
#[utoipa::path(post, path = "/api/v1/admin/data-requests/{id}/erase", tag = "admin",
    security(("bearer" = ["data_requests_manage"])), params(("id" = String, Path)),
    responses((status = 200, body = ErasedResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn carry_out_erasure(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::DataRequestsManage>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    let erased = carry_out(&app, &staff.account, &id).await?;
    Ok(no_store(ErasedResponse::of(&erased, id)))
}

/// Carries out erasure request `id` for `staff` (who must hold `data_requests_manage`,
/// checked here too): the person's account is erased and the request done.
pub async fn carry_out(
    app: &AppState,
    staff: &Account,
    id: &str,
) -> Result<gatehouse_domain::data_key::Erasure, ApiError> {
    if !staff.roles.allow(Permission::DataRequestsManage) {
        return Err(ApiError::Forbidden(Permission::DataRequestsManage.as_str()));
    }
    let request = app.identity.data_request(id).await?;
    if request.kind != RequestKind::Erasure || request.status.is_final() {
        return Err(ApiError::Conflict {
            code: "state_conflict",
            message: format!(
                "this is a {} request that is {}",
                request.kind.as_str(),
                request.status.as_str()
            ),
        });
    }
    let erased = erase(app, staff, request.account).await?;
    app.identity
        .answer_data_request(
            staff,
            id,
            RequestStatus::Done,
            Some("account erased: data key shredded"),
        )
        .await?;
    Ok(erased)
}
