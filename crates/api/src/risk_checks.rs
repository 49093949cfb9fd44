//! The booking path's side of risk control: who acts as the engine keys them (account, contact
//! phone, visitors' ID numbers, device, client address), the scalping assessment before any
//! stock is touched, and what the path does with the answer. `pass` goes on; `challenge` asks
//! for the edge's challenge, whose pass (earned by work or an SMS code, bound to this client,
//! browser and session) lets the same request through; `review` and `reject` refuse, saying
//! how to contest it. The service records every answer; a booking that happened is observed
//! after, so the features count it.

use std::net::IpAddr;

use axum::http::{Extensions, HeaderMap, Method};
use gatehouse_identity::Authenticated;
use gatehouse_risk::features::{Behaviour, Happening, Subject};
use gatehouse_risk::policy::{Level, Scenario};
use gatehouse_risk_service::{Asked, Who};

use crate::error::ApiError;
use crate::AppState;

/// The header traffic protection reads a device id from.
const DEVICE_HEADER: &str = "x-device-id";
/// The sale a risk challenge's pass is bound to.
const RISK_SALE: &str = "risk-booking";

/// The request being judged, as the path has it.
pub struct Acting<'a> {
    pub session: &'a Authenticated,
    pub headers: &'a HeaderMap,
    pub extensions: &'a Extensions,
    pub method: &'a Method,
    pub path: &'a str,
}

/// The client's address as traffic protection resolved it (behind trusted proxies).
fn client_of(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<gatehouse_edge::firewall::Client>()
        .map(|c| c.0)
}

/// The device: the id the client sends, else its sign-in on this device (the session's family,
/// which refreshed sessions keep).
fn device_of(session: &Authenticated, headers: &HeaderMap) -> String {
    headers
        .get(DEVICE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|d| !d.is_empty() && d.len() <= 128)
        .map_or_else(
            || format!("family:{}", hex::encode(session.family)),
            |d| format!("id:{d}"),
        )
}

impl Acting<'_> {
    fn client(&self) -> Option<IpAddr> {
        client_of(self.extensions)
    }

    fn device(&self) -> String {
        device_of(self.session, self.headers)
    }
}

/// `session`'s holder joined a release's line from this device and address: the link graph
/// learns which accounts share a device before any of them books.
pub fn joined(
    app: &AppState,
    session: &Authenticated,
    headers: &HeaderMap,
    extensions: &Extensions,
) {
    let device = device_of(session, headers);
    let who = app.risk.subject(&Who {
        account: Some(session.account.id),
        device: Some(&device),
        ip: client_of(extensions),
        ..Who::default()
    });
    app.risk.observe(&who, Happening::JoinQueue);
}

/// Judges a booking of `id_numbers` (normalised) with `phone` for scalping; Ok with who acted,
/// to observe once the booking is made.
pub async fn check_booking(
    app: &AppState,
    acting: &Acting<'_>,
    phone: Option<&str>,
    id_numbers: &[String],
    admitted_at: Option<jiff::Timestamp>,
) -> Result<Subject, ApiError> {
    let account = acting.session.account.id;
    let now = app.service.clock().now();
    let (ms_page_to_submit, skipped_pages) = app.risk.page_behaviour(account);
    let ms_admission_to_submit =
        admitted_at.map(|at| u64::try_from(now.duration_since(at).as_millis().max(0)).unwrap_or(0));
    let device = acting.device();
    let who = app.risk.subject(&Who {
        account: Some(account),
        phone,
        id_numbers: id_numbers.iter().map(String::as_str).collect(),
        device: Some(&device),
        ip: acting.client(),
        payment_account: None,
    });
    let tickets = u32::try_from(id_numbers.len()).unwrap_or(u32::MAX);
    let asked = Asked {
        scenario: Scenario::Scalping,
        what: Happening::Book { tickets },
        behaviour: Behaviour {
            ms_page_to_submit,
            ms_admission_to_submit,
            skipped_pages: Some(skipped_pages),
            client_inconsistent: None,
            account_created_at: Some(gatehouse_risk::millis(acting.session.account.created_at)),
        },
        who: who.clone(),
        account: Some(account),
        source: "booking",
    };
    let answer = match app.risk.assess(asked).await {
        Ok(a) => a,
        Err(e) => {
            // The booking needs the same database; if only the decision log failed, selling
            // on is better than refusing every visitor. Logged for the operators.
            tracing::error!(error = %e, "risk assessment failed; the booking goes on unjudged");
            return Ok(who);
        }
    };
    if !app.risk.enforces() {
        return Ok(who);
    }
    match answer.level {
        Level::Pass => Ok(who),
        Level::Challenge => {
            app.edge
                .demand_pass(
                    acting.method,
                    acting.path,
                    acting.headers,
                    acting.extensions,
                    RISK_SALE,
                )
                .map_err(ApiError::RiskChallenge)?;
            Ok(who)
        }
        Level::Review | Level::Reject => Err(ApiError::RiskRefused {
            code: if answer.level == Level::Review {
                "risk_review"
            } else {
                "risk_rejected"
            },
            message: "risk control did not allow this booking; if you think this is a mistake, file a complaint quoting your account".into(),
        }),
    }
}

/// The caller of a page read (a slot's availability) looked at a bookable page, if signed in
/// with a session this node has cached (no I/O on the catalogue's hot path).
pub fn note_view(app: &AppState, headers: &HeaderMap) {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(account) = bearer.and_then(|b| app.identity.cached_account(b.trim())) {
        app.risk.viewed(account);
    }
}

/// A booking `who` made: the features count it.
pub fn booked(app: &AppState, who: &Subject, tickets: usize) {
    let tickets = u32::try_from(tickets).unwrap_or(u32::MAX);
    app.risk.observe(who, Happening::Book { tickets });
}
