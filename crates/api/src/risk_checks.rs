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

/// A device id as the client (or an assessment's caller) names it, as risk control keys it:
/// apart from the session-family fallback, so the two can never collide.
pub fn device_key(raw: &str) -> String {
    format!("id:{raw}")
}

/// The client's address as traffic protection resolved it (behind trusted proxies).
fn client_of(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<gatehouse_edge::firewall::Client>()
        .map(|c| c.0)
}

/// The device id the client sends (`X-Device-Id`), keyed by [`device_key`].
fn sent_device(headers: &HeaderMap) -> Option<String> {
    headers
        .get(gatehouse_edge::DEVICE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|d| !d.is_empty() && d.len() <= 128)
        .map(device_key)
}

/// The device: the id the client sends, else its sign-in on this device (the session's family,
/// which refreshed sessions keep).
fn device_of(session: &Authenticated, headers: &HeaderMap) -> String {
    sent_device(headers).unwrap_or_else(|| format!("family:{}", hex::encode(session.family)))
}

impl Acting<'_> {
    fn client(&self) -> Option<IpAddr> {
        client_of(self.extensions)
    }

    /// Whether traffic protection's bot signals found the client suspicious (None when the
    /// request did not pass the edge, as in router tests without it).
    fn inconsistent(&self) -> Option<bool> {
        self.extensions
            .get::<gatehouse_edge::ClientSignals>()
            .map(|s| s.suspicious)
    }

    fn device(&self) -> String {
        device_of(self.session, self.headers)
    }
}

/// What a request tells risk control of its client, read from the request's parts without
/// copying its headers: the device id it sends, and the address the edge resolved.
pub struct RiskClient {
    device: Option<String>,
    ip: Option<IpAddr>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RiskClient {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            device: sent_device(&parts.headers),
            ip: client_of(&parts.extensions),
        })
    }
}

/// `account` signed in, or joined a release's line, from `client`'s device: the link graph
/// learns which accounts share a device before any of them books. Without a device id there is
/// nothing to link (a session's own sign-in is never shared by two accounts), so nothing is
/// done.
pub fn seen(
    app: &AppState,
    account: gatehouse_domain::order::AccountId,
    client: &RiskClient,
    what: Happening,
) {
    let Some(device) = client.device.as_deref() else {
        return;
    };
    let who = app.risk.subject(&Who {
        account: Some(account),
        device: Some(device),
        ip: client.ip,
        ..Who::default()
    });
    app.risk.observe(&who, what);
}

/// `account` joined a release's line from `client` (see [`seen`]).
pub fn joined(app: &AppState, account: gatehouse_domain::order::AccountId, client: &RiskClient) {
    seen(app, account, client, Happening::JoinQueue);
}

/// Refuses what a measure in force stops `account` doing, telling them the measure's notice.
pub fn refuse_if_measured(
    app: &AppState,
    account: gatehouse_domain::order::AccountId,
    function: gatehouse_domain::measure::Function,
) -> Result<(), ApiError> {
    use gatehouse_domain::measure::MeasureKind;
    let Some(m) = app.risk.blocked(account, function) else {
        return Ok(());
    };
    let (code, what) = match m.measure.kind {
        MeasureKind::Ban => ("account_banned", "this account is banned"),
        MeasureKind::Suspension => ("account_suspended", "this account is suspended"),
        MeasureKind::NoRefunds | MeasureKind::Warning => (
            "refunds_limited",
            "refunds are not available to this account",
        ),
    };
    let until = m
        .measure
        .until
        .map(|u| format!(" until {u}"))
        .unwrap_or_default();
    Err(ApiError::RiskRefused {
        code,
        message: format!("{what}{until}: {}", m.measure.notice),
    })
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
    refuse_if_measured(app, account, gatehouse_domain::measure::Function::Book)?;
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
            client_inconsistent: acting.inconsistent(),
            account_created_at: Some(gatehouse_risk::millis(acting.session.account.created_at)),
        },
        who: who.clone(),
        account: Some(account),
        source: "booking",
    };
    act_on(app, acting, asked, "booking").await?;
    Ok(who)
}

/// The caller of a page read (a slot's availability) looked at a bookable page, if signed in
/// with a session this node has cached (no I/O on the catalogue's hot path).
pub fn note_view(app: &AppState, headers: &HeaderMap) {
    let bearer = crate::auth::bearer_token(headers);
    if let Some(account) = bearer.and_then(|b| app.identity.cached_account(b.trim())) {
        app.risk.viewed(account);
    }
}

/// Judges a payment by `acting`'s holder with `payer` (their account at the provider, when the
/// channel names one) for fraud, before the provider is asked; acts as a booking's check does.
/// Ok with who pays, to observe once the payment is created.
pub async fn check_payment(
    app: &AppState,
    acting: &Acting<'_>,
    payer: Option<&str>,
) -> Result<Subject, ApiError> {
    let account = acting.session.account.id;
    refuse_if_measured(app, account, gatehouse_domain::measure::Function::Pay)?;
    let device = acting.device();
    let who = app.risk.subject(&Who {
        account: Some(account),
        device: Some(&device),
        ip: acting.client(),
        payment_account: payer,
        ..Who::default()
    });
    let asked = Asked {
        scenario: Scenario::Fraud,
        what: Happening::Pay,
        behaviour: Behaviour {
            account_created_at: Some(gatehouse_risk::millis(acting.session.account.created_at)),
            ..Behaviour::default()
        },
        who: who.clone(),
        account: Some(account),
        source: "payment",
    };
    act_on(app, acting, asked, "payment").await?;
    Ok(who)
}

/// What the path does with an assessment's answer (in `enforce` mode): Ok to go on.
async fn act_on(
    app: &AppState,
    acting: &Acting<'_>,
    asked: Asked,
    what: &str,
) -> Result<(), ApiError> {
    let answer = match app.risk.assess(asked).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, what, "risk assessment failed; going on unjudged");
            return Ok(());
        }
    };
    if !app.risk.enforces() {
        return Ok(());
    }
    match answer.level {
        Level::Pass => Ok(()),
        Level::Challenge => app
            .edge
            .demand_pass(
                acting.method,
                acting.path,
                acting.headers,
                acting.extensions,
                RISK_SALE,
            )
            .map_err(ApiError::RiskChallenge),
        Level::Review | Level::Reject => Err(ApiError::RiskRefused {
            code: if answer.level == Level::Review {
                "risk_review"
            } else {
                "risk_rejected"
            },
            message: format!(
                "risk control did not allow this {what}; if you think this is a mistake, contact the museum quoting your account"
            ),
        }),
    }
}

/// Something in `account`'s history happened (a cancellation, a refund — `soon`: within a day
/// of booking — or a no-show).
pub fn history(app: &AppState, account: gatehouse_domain::order::AccountId, what: Happening) {
    let who = app.risk.subject(&Who {
        account: Some(account),
        ..Who::default()
    });
    app.risk.observe(&who, what);
}

/// A payment `who` made: the features count it (the payer account's velocity and sharing).
pub fn paid(app: &AppState, who: &Subject) {
    app.risk.observe(who, Happening::Pay);
}

/// A booking `who` made: the features count it.
pub fn booked(app: &AppState, who: &Subject, tickets: usize) {
    let tickets = u32::try_from(tickets).unwrap_or(u32::MAX);
    app.risk.observe(who, Happening::Book { tickets });
}
