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

impl Acting<'_> {
    /// The client's address as traffic protection resolved it (behind trusted proxies).
    fn client(&self) -> Option<IpAddr> {
        self.extensions
            .get::<gatehouse_edge::firewall::Client>()
            .map(|c| c.0)
    }

    /// The device: the id the client sends, else its sign-in on this device (the session's
    /// family, which refreshed sessions keep).
    fn device(&self) -> String {
        self.headers
            .get(DEVICE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|d| !d.is_empty() && d.len() <= 128)
            .map_or_else(
                || format!("family:{}", hex::encode(self.session.family)),
                |d| format!("id:{d}"),
            )
    }
}

/// Judges a booking of `id_numbers` (normalised) with `phone` for scalping; Ok with who acted,
/// to observe once the booking is made.
pub async fn check_booking(
    app: &AppState,
    acting: &Acting<'_>,
    phone: Option<&str>,
    id_numbers: &[String],
) -> Result<Subject, ApiError> {
    let account = acting.session.account.id;
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
            account_created_at: Some(gatehouse_risk::millis(acting.session.account.created_at)),
            ..Behaviour::default()
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

/// A booking `who` made: the features count it.
pub fn booked(app: &AppState, who: &Subject, tickets: usize) {
    let tickets = u32::try_from(tickets).unwrap_or(u32::MAX);
    app.risk.observe(who, Happening::Book { tickets });
}
