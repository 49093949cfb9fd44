//! Protected releases over HTTP: staff protect a product's day (its opening then passes the
//! waiting room); anyone reads the protected releases with the commitment to each one's seed,
//! and the seed itself once the release has opened, so the order can be re-run by anyone.
//! Visitors join a release's line and poll their place; once admitted they get the admission
//! token every booking for that day must carry ([`admission_guard`]).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gatehouse_domain::catalogue::{ProductId, SlotId};
use gatehouse_domain::waiting::NewProtectedRelease;
use gatehouse_identity::Authenticated;
use gatehouse_queue::{
    JoinRefused, Person, PlaceId, PublishedRelease, QueueError, Release, RoomError, Standing,
    Status,
};
use jiff::{SignedDuration, ToSpan};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::{perm, Allowed};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::wire::parse_date;
use crate::AppState;

/// A product's day to protect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectRequest {
    pub product_id: i64,
    /// The visiting day (`YYYY-MM-DD`); its booking opens as the product's rules say.
    pub date: String,
    /// How long before the opening the pre-queue opens (default 30, 1 to 1,440).
    pub prequeue_minutes: Option<u32>,
    /// How long an admitted person has to book (default 10, 1 to 60).
    pub window_minutes: Option<u32>,
}

/// A protected release as everyone may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseResponse {
    pub id: u64,
    pub product_id: i64,
    pub date: String,
    pub prequeue_opens_at: String,
    pub opens_at: String,
    pub window_minutes: i64,
    /// `SHA-256(seed)`, hex: published before the opening.
    pub seed_commitment: String,
    /// The seed, hex, once the release has opened: the pre-queue's order re-runs from it.
    pub seed: Option<String>,
}

impl From<PublishedRelease> for ReleaseResponse {
    fn from(p: PublishedRelease) -> Self {
        Self {
            id: p.release.id,
            product_id: p.release.product,
            date: p.release.day.to_string(),
            prequeue_opens_at: p.release.prequeue_opens_at.to_string(),
            opens_at: p.release.opens_at.to_string(),
            window_minutes: p.release.window.as_mins(),
            seed_commitment: p.commitment,
            seed: p.seed,
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Invalid { field, message } => ApiError::field(field, message),
            QueueError::AlreadyProtected => ApiError::Conflict {
                code: "already_protected",
                message: e.to_string(),
            },
            QueueError::Store(s) => {
                tracing::error!(error = %s, "protected releases could not be stored");
                ApiError::Domain(gatehouse_domain::BookingError::Unavailable)
            }
        }
    }
}

/// Protect a product's day: its opening passes the waiting room (pre-queue, a shuffle by a
/// committed seed, admission at the rate booking can serve).
#[utoipa::path(post, path = "/api/v1/admin/releases", tag = "admin", security(("bearer" = ["catalogue_manage"])),
    request_body = ProtectRequest,
    responses((status = 201, body = ReleaseResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn protect(
    State(app): State<AppState>,
    Allowed(staff, ..): Allowed<perm::CatalogueManage>,
    ApiJson(req): ApiJson<ProtectRequest>,
) -> Result<(StatusCode, Json<ReleaseResponse>), ApiError> {
    let day = parse_date("date", &req.date)?;
    let product = app
        .service
        .product_details(ProductId(req.product_id))
        .await?
        .product;
    let rules = &product.spec.rules;
    let opening_day = day
        .checked_sub(i64::from(rules.open_days_before).days())
        .map_err(|_| ApiError::field("date", "is out of range"))?;
    let opens_at = opening_day
        .to_datetime(rules.open_at)
        .to_zoned(app.service.museum_tz().clone())
        .map_err(|_| ApiError::field("date", "is out of range"))?
        .timestamp();
    let minutes = |v: Option<u32>, default: u32| i64::from(v.unwrap_or(default));
    let window_secs = u32::try_from(minutes(req.window_minutes, 10) * 60).unwrap_or(u32::MAX);
    let new = NewProtectedRelease {
        product: product.id,
        day,
        prequeue_opens_at: opens_at - SignedDuration::from_mins(minutes(req.prequeue_minutes, 30)),
        opens_at,
        window_secs,
        seed: [0; 32],
        created_by: staff.account.id,
        created_at: app.queue.now(),
    };
    let published = app.queue.protect(new).await?;
    app.identity
        .audit(
            Some(staff.account.id),
            "release_protected",
            &format!(
                "release {} of product {} on {day}",
                published.release.id, product.id.0
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(published.into())))
}

/// Protected releases, soonest first: each seed's commitment, and the seed once it opened.
#[utoipa::path(get, path = "/api/v1/releases", tag = "catalogue",
    responses((status = 200, body = [ReleaseResponse])))]
pub async fn list(State(app): State<AppState>) -> Json<Vec<ReleaseResponse>> {
    Json(app.queue.published().into_iter().map(Into::into).collect())
}

/// The header a booking request carries its admission token in during a protected release
/// (the web app's pages send the `gh_admission` cookie instead).
pub const ADMISSION_HEADER: &str = "x-gatehouse-admission";
pub const ADMISSION_COOKIE: &str = "gh_admission";

/// What binds a place and its admission to the device: a digest of the session's family — the
/// sign-in on that device, which its refreshed sessions keep (a session's own id changes at
/// every refresh). Extra tabs share the session, so they share the place.
pub fn session_key(session: &Authenticated) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"gatehouse-queue-session\0");
    h.update(session.family);
    h.finalize().into()
}

/// A place in a release's line, as its holder sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceResponse {
    pub release_id: u64,
    pub place: u64,
    /// `waiting` (before the opening), `in_line`, `admitted`, `done` or `sold_out`.
    pub standing: &'static str,
    /// People ahead, while in line.
    pub ahead: Option<u64>,
    /// An estimate of the wait, while in line.
    pub wait_secs: Option<u64>,
    /// Until when the admitted person may book.
    pub admitted_until: Option<String>,
    /// Sent with booking requests (header `X-Gatehouse-Admission`) while admitted.
    pub admission_token: Option<String>,
    /// Where to poll this place cheaply, without the session (`GET`; the same answer).
    pub poll_path: String,
}

/// Where `status`'s place of `release` is polled cheaply.
pub fn poll_path(release: u64, status: &Status) -> String {
    format!(
        "{POLL_PREFIX}{release}/{}/{}",
        status.place.0, status.poll_key
    )
}

fn place_response(release: u64, s: Status) -> PlaceResponse {
    let (ahead, admitted_until) = match s.standing {
        Standing::InLine { ahead } => (Some(ahead), None),
        Standing::Admitted { until } => (None, Some(until.to_string())),
        Standing::Waiting | Standing::Done | Standing::SoldOut => (None, None),
    };
    PlaceResponse {
        poll_path: poll_path(release, &s),
        release_id: release,
        place: s.place.0,
        standing: s.standing.name(),
        ahead,
        wait_secs: s.wait_secs,
        admitted_until,
        admission_token: s.token,
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        let conflict = |code| ApiError::Conflict {
            code,
            message: e.to_string(),
        };
        match &e {
            RoomError::UnknownRelease(_) | RoomError::UnknownPlace => ApiError::NoRoute,
            RoomError::Refused(JoinRefused::OtherSession) => conflict("queue_other_device"),
            RoomError::Refused(JoinRefused::Duplicate) => conflict("queue_duplicate"),
            RoomError::Refused(JoinRefused::NotOpen(_)) => conflict("queue_not_open"),
            RoomError::Refused(JoinRefused::SoldOut) => conflict("sold_out"),
            RoomError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
        }
    }
}

fn no_store(body: PlaceResponse) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

/// Join a protected release's line (once per account; the same device session gets the same
/// place again).
#[utoipa::path(post, path = "/api/v1/releases/{id}/join", tag = "orders", security(("bearer" = ["self_service"])),
    params(("id" = u64, Path)),
    responses((status = 200, body = PlaceResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "queue_other_device, queue_duplicate, queue_not_open, sold_out")))]
pub async fn join(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    client: crate::risk_checks::RiskClient,
    ApiPath(id): ApiPath<u64>,
) -> Result<axum::response::Response, ApiError> {
    let status = join_as(&app, id, &session).await?;
    crate::risk_checks::joined(&app, session.account.id, &client);
    Ok(no_store(place_response(id, status)))
}

/// Joins the signed-in `session`'s holder to `release`'s line as one person: their account on
/// this device, their phone and the ID numbers they book for (the API's join and the waiting
/// page's both come here). A place already held on this device needs no lookup.
pub async fn join_as(
    app: &AppState,
    release: u64,
    session: &Authenticated,
) -> Result<gatehouse_queue::Status, ApiError> {
    let account = session.account.id.0;
    let device = session_key(session);
    if let Some(held) = app.queue.held(release, account, &device) {
        return Ok(held);
    }
    let keys = app.identity.person_keys(session.account.id).await?;
    let person = Person {
        account,
        session: device,
        keys,
    };
    Ok(app.queue.join(release, person).await?)
}

/// Where my place in a release's line stands; once admitted, the admission token.
#[utoipa::path(get, path = "/api/v1/releases/{id}/me", tag = "orders", security(("bearer" = ["self_service"])),
    params(("id" = u64, Path)),
    responses((status = 200, body = PlaceResponse), (status = 404, body = ErrorBody)))]
pub async fn mine(
    State(app): State<AppState>,
    Allowed(session, ..): Allowed<perm::SelfService>,
    ApiPath(id): ApiPath<u64>,
) -> Result<axum::response::Response, ApiError> {
    let status = app
        .queue
        .status(id, session.account.id.0, &session_key(&session))
        .await?
        .ok_or(ApiError::NoRoute)?;
    Ok(no_store(place_response(id, status)))
}

/// The protected release `slot`'s day belongs to, if bookings of it pass the waiting room now
/// (from the pre-queue's opening to the end of that day).
pub fn protected_now(app: &AppState, slot: i64) -> Option<Release> {
    let a = app.service.slot_availability(SlotId(slot)).ok()?;
    let now = app.queue.now();
    let release = app
        .queue
        .room()
        .release_for(a.slot.product_id.0, a.slot.date)?
        .clone();
    let day_ends = a
        .slot
        .date
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(app.service.museum_tz().clone()).ok())
        .map(|z| z.timestamp());
    (now >= release.prequeue_opens_at && day_ends.is_none_or(|end| now < end)).then_some(release)
}

/// An admission a booking was checked for.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    pub release: u64,
    pub place: PlaceId,
    /// When the place was admitted (its window's start): risk control reads how soon after it
    /// the booking came.
    pub at: jiff::Timestamp,
}

/// A booking's pass through the waiting room: `None` when the slot's day is not protected now;
/// the admission it was checked for; or the refusal.
pub async fn admission_guard(
    app: &AppState,
    session: &Authenticated,
    headers: &HeaderMap,
    slot: i64,
) -> Result<Option<Admitted>, ApiError> {
    let Some(release) = protected_now(app, slot) else {
        return Ok(None);
    };
    let admission = check_admission(app, session, headers, &release).await?;
    Ok(Some(Admitted {
        release: release.id,
        place: admission.place,
        at: admission
            .until
            .checked_sub(release.window)
            .unwrap_or(admission.until),
    }))
}

/// The place of the admission a request to book during `release` carries (header or cookie),
/// checked for this account and device; or the refusal.
pub async fn check_admission(
    app: &AppState,
    session: &Authenticated,
    headers: &HeaderMap,
    release: &Release,
) -> Result<gatehouse_queue::Admission, ApiError> {
    let token = headers
        .get(ADMISSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| crate::auth::cookie(headers, ADMISSION_COOKIE));
    let Some(token) = token else {
        return Err(ApiError::Admission {
            code: "admission_required",
            message: format!(
                "bookings for this day pass the waiting room: join POST /api/v1/releases/{}/join and book once admitted",
                release.id
            ),
        });
    };
    app.queue
        .check(
            release.id,
            token,
            session.account.id.0,
            &session_key(session),
        )
        .await
        .map_err(|e| ApiError::Admission {
            code: "admission_invalid",
            message: e.to_string(),
        })
}

/// After a sold-out answer during `release`: if every slot of the day is gone, the line is told
/// at once (nobody new joins, everyone waiting sees it sold out).
pub async fn sell_out_if_gone(app: &AppState, release: u64, slot: i64) {
    // Once the line knows, every later sold-out answer would re-read the whole day for nothing
    // (about 1,300 of them at the end of a 100,000-visitor release).
    if app.queue.room().is_sold_out(release) {
        return;
    }
    let Ok(a) = app.service.slot_availability(SlotId(slot)) else {
        return;
    };
    let day = a.slot.date;
    let Ok(all) = app.service.slots(a.slot.product_id, day, day).await else {
        return;
    };
    if all.iter().all(|s| s.remaining == 0) {
        if let Err(e) = app.queue.sell_out(release).await {
            tracing::warn!(release, error = %e, "could not tell the line it sold out");
        }
    }
}

/// Where places are polled: `/q/{release}/{place}/{poll key}`.
pub const POLL_PREFIX: &str = "/q/";

/// The waiting page's poll, answered before traffic protection and the firewall run: the
/// hottest request of a rush, and by construction a harmless one — a GET of a fixed shape (two
/// numbers and a 22-character key, nothing else read; anything else is 404), answered from this
/// node's memory, and only to a holder of the place's key. The rest of the API and every
/// booking still pass the whole stack.
pub async fn fast_poll(
    State(app): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(rest) = req.uri().path().strip_prefix(POLL_PREFIX) else {
        return next.run(req).await;
    };
    let parsed = (req.method() == axum::http::Method::GET && req.uri().query().is_none())
        .then(|| {
            let mut parts = rest.split('/');
            let release = parts.next()?.parse::<u64>().ok()?;
            let place = parts.next()?.parse::<u64>().ok()?;
            let key = parts.next()?;
            let shaped = key.len() == 22
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            (shaped && parts.next().is_none()).then_some((release, PlaceId(place), key))
        })
        .flatten();
    let Some((release, place, key)) = parsed else {
        return ApiError::NoRoute.into_response();
    };
    let now = app.queue.now();
    let status = app.queue.room().status_by_key(release, place, key, now);
    match status {
        Ok(s) => no_store(place_response(release, s)),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Joins in one span of time and what became of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketResponse {
    /// When the span starts (the last one starts at the opening: the later joiners).
    pub from: String,
    pub joined: u64,
    pub admitted: u64,
    pub bought: u64,
    /// The mean place among those admitted (0: the first), if any were.
    pub mean_rank: Option<f64>,
}

/// The challenges in front of joining, as this node saw them.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinChallenges {
    /// The challenge rules' sales that cover joining.
    pub sales: Vec<String>,
    pub challenged: u64,
    pub passed: u64,
    pub failed: u64,
}

/// A release's fairness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct FairnessReport {
    pub release_id: u64,
    pub joined: u64,
    pub prequeued: u64,
    pub admitted: u64,
    pub bought: u64,
    pub abandoned: u64,
    pub refused_duplicates: u64,
    pub refused_other_device: u64,
    /// Challenges of the traffic-protection sales that guard joining (on this node, since it
    /// started): requests challenged, passes earned, answers that failed.
    pub join_challenges: JoinChallenges,
    /// Outcomes by join time: ten spans of the pre-queue, then everyone after the opening.
    pub by_join_time: Vec<BucketResponse>,
    /// Two-sample Kolmogorov–Smirnov statistic of the admission places of the pre-queue's
    /// earlier and later halves; a fair order keeps it under `ks_critical_001`.
    pub ks_statistic: Option<f64>,
    pub ks_critical_001: Option<f64>,
    pub seed_commitment: String,
    /// Once the release has opened.
    pub seed: Option<String>,
}

/// The fairness report of a release: who joined, was admitted, bought, abandoned or was
/// refused, and the outcomes against join time.
#[utoipa::path(get, path = "/api/v1/admin/releases/{id}/report", tag = "admin", security(("bearer" = ["catalogue_manage"])),
    params(("id" = u64, Path)),
    responses((status = 200, body = FairnessReport), (status = 404, body = ErrorBody)))]
pub async fn report(
    State(app): State<AppState>,
    _: Allowed<perm::CatalogueManage>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<FairnessReport>, ApiError> {
    let published = app.queue.published_release(id).ok_or(ApiError::NoRoute)?;
    let r = app.queue.room().report(id, 10).ok_or(ApiError::NoRoute)?;
    let t = r.tally;
    let mut sales = app
        .edge
        .sales_covering("POST", &format!("/api/v1/releases/{id}/join"));
    sales.extend(
        app.edge
            .sales_covering("POST", &format!("/queue/{id}/join")),
    );
    sales.sort();
    sales.dedup();
    let mut challenges = gatehouse_edge::sales::SaleTally::default();
    for sale in &sales {
        challenges += app.edge.sale_tally(sale);
    }
    Ok(Json(FairnessReport {
        release_id: id,
        joined: t.joined,
        prequeued: t.prequeued,
        admitted: t.admitted,
        bought: t.bought,
        abandoned: t.abandoned,
        refused_duplicates: t.refused_duplicate,
        refused_other_device: t.refused_other_session,
        join_challenges: JoinChallenges {
            sales: sales.iter().map(|s| s.to_string()).collect(),
            challenged: challenges.challenged,
            passed: challenges.passed,
            failed: challenges.failed,
        },
        by_join_time: r
            .buckets
            .into_iter()
            .map(|b| BucketResponse {
                from: b.from.to_string(),
                joined: b.joined,
                admitted: b.admitted,
                bought: b.bought,
                mean_rank: b.mean_rank,
            })
            .collect(),
        ks_statistic: r.ks_d,
        ks_critical_001: r.ks_critical_001,
        seed_commitment: published.commitment,
        seed: published.seed,
    }))
}
