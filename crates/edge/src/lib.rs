//! Traffic protection at the HTTP edge. [`protect`] is an axum middleware that turns each
//! request into the shield's plain facts (method, path, peer address, `X-Forwarded-For`, the
//! bearer credential as the account key, `X-Device-Id`), asks for the verdict and answers a
//! refusal itself — 429 `rate_limited` (a client's limit) or `flow_limited` (a route's rate),
//! 503 `overloaded` (a route's cap in flight, or shedding), each with `Retry-After` — so a
//! refused request never reaches a route, a body parser or the booking logic. A queueing flow
//! rule's wait is slept here. [`Edge::watch`] reloads the policy file when it changes.
//!
//! The standalone gateway (`gateway.rs`) is the same layer in front of a proxy to any HTTP
//! service. `firewall.rs` is the second layer: the web application firewall (the OWASP CRS), with
//! its audit log in `audit.rs`. `lists.rs` manages the block and allow lists; `events.rs` turns refusals into
//! security events without letting a flood become a flood of rows.
//!
//! API boundary: the only crate that knows both axum and the shield.

mod audit;
pub mod challenge;
pub mod cleaning;
pub mod events;
pub mod firewall;
pub mod gateway;
pub mod lists;
pub mod metering;
pub mod sales;
pub mod shared;
pub mod subjects;

pub use gatehouse_shield::KeyKind;
pub use lists::{ListError, LIST_REFRESH};
pub use subjects::SubjectLimited;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_domain::order::AccountId;
use gatehouse_domain::traffic::TrafficStore;
use gatehouse_domain::{Clock, SystemClock};
use gatehouse_shield::{Admission, Policy, RequestFacts, Shield, Verdict};

use gatehouse_meter::Counted;
use gatehouse_shield::Exhaustion;

use crate::events::{Refusal, Refusals, FLUSH_EVERY};

/// The liveness probe's path: never examined, never metered.
pub const HEALTH_PATH: &str = "/health";

/// Finds the account behind a bearer credential without waiting on anything (a cache). When it
/// cannot, the edge keys the request by the credential itself.
pub trait AccountResolver: Send + Sync + 'static {
    fn cached_account(&self, bearer: &str) -> Option<AccountId>;
}

/// The page a browser is shown when a request needs a pass. The web app gives it the site's own
/// look and the visitor's language; without one the edge serves its built-in bilingual page.
/// The page must keep the solver's element ids (`gh-challenge`, `gh-progress`, `gh-status` with
/// `data-verifying` and `data-failed`, the SMS forms `gh-sms`, `gh-sms-phone`, `gh-phone`,
/// `gh-sms-code`, `gh-code`, `gh-sms-error`) and load the solver from [`challenge::SOLVER_PATH`].
pub trait ChallengePage: Send + Sync + 'static {
    /// The whole page for a request to `path` with `headers`, carrying `challenge_json`
    /// (already safe inside a `<script type="application/json">` block); `sms` says whether to
    /// offer the SMS way out.
    fn render(
        &self,
        path: &str,
        headers: &axum::http::HeaderMap,
        challenge_json: &str,
        sms: bool,
    ) -> axum::response::Response;
}

/// The most `X-Forwarded-For` headers read (a request with more is judged by the first ones).
const MAX_FORWARDED_HEADERS: usize = 8;

/// The edge's state: the shield and the monotonic clock its limits run on.
pub struct Edge {
    shield: Shield,
    epoch: Instant,
    /// Off: requests pass unexamined (for measuring what protection costs, and for a service
    /// whose protection runs elsewhere).
    enabled: bool,
    /// Where the lists live and security events go; none for a gateway without a database.
    store: Option<Arc<dyn TrafficStore>>,
    clock: Arc<dyn Clock>,
    accounts: std::sync::OnceLock<Arc<dyn AccountResolver>>,
    challenge_page: std::sync::OnceLock<Arc<dyn ChallengePage>>,
    refusals: Refusals,
    sales: sales::Sales,
    /// Challenge answers per client network (bounded like every keyed table).
    attempts: gatehouse_shield::KeyedLimits,
    /// The host serves the SMS path of challenges (`/.gatehouse/sms/…`).
    sms: std::sync::atomic::AtomicBool,
    /// Traffic through the edge, for DDoS cleaning's thresholds.
    meter: cleaning::Meter,
    /// The call meter and whether the quota is used up.
    metering: metering::MeterState,
    /// Limits shared across nodes (Redis), when configured.
    shared: std::sync::OnceLock<Arc<shared::SharedLimits>>,
    /// The web application firewall, when its rules are attached.
    firewall: firewall::FirewallSlot,
}

impl Edge {
    fn build(
        policy: Policy,
        enabled: bool,
        store: Option<Arc<dyn TrafficStore>>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Self {
            shield: Shield::new(policy),
            epoch: Instant::now(),
            enabled,
            store,
            clock,
            sales: sales::Sales::default(),
            accounts: std::sync::OnceLock::new(),
            challenge_page: std::sync::OnceLock::new(),
            refusals: Refusals::default(),
            attempts: gatehouse_shield::KeyedLimits::new(100_000),
            sms: std::sync::atomic::AtomicBool::new(false),
            meter: cleaning::Meter::default(),
            metering: metering::MeterState::default(),
            shared: std::sync::OnceLock::new(),
            firewall: firewall::FirewallSlot::default(),
        })
    }

    /// An edge without lists or security events (nothing stored).
    pub fn new(policy: Policy) -> Arc<Self> {
        Self::build(policy, true, None, Arc::new(SystemClock))
    }

    /// An edge whose lists and security events live in `store`; `clock` is wall-clock time
    /// (entries' ends, events' instants).
    pub fn with_store(
        policy: Policy,
        store: Arc<dyn TrafficStore>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Self::build(policy, true, Some(store), clock)
    }

    /// An edge that lets everything through.
    pub fn disabled() -> Arc<Self> {
        Self::build(Policy::open(), false, None, Arc::new(SystemClock))
    }

    /// Wall-clock seconds since the Unix epoch (passes end in wall time).
    pub fn unix_now(&self) -> u64 {
        u64::try_from(self.clock.now().as_second()).unwrap_or(0)
    }

    /// Says the host serves the SMS path of challenges, so the challenge page offers it.
    pub fn offer_sms(&self) {
        self.sms.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn sms_offered(&self) -> bool {
        self.sms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The client a request comes from (through trusted proxy hops only).
    pub(crate) fn client_of(&self, view: &RequestView<'_>) -> IpAddr {
        self.shield
            .policy()
            .trusted_proxies
            .client_ip(view.peer, view.forwarded())
    }

    /// The refusal for a client on a block list (by address or network alone).
    pub(crate) fn listed_block(&self, client: IpAddr) -> Option<Response> {
        match self.shield.lists().find(client, None, None, self.now_us()) {
            Some(gatehouse_shield::Listed::Blocked(rule)) => Some(blocked(rule.id)),
            _ => None,
        }
    }

    /// Lets the edge key requests by account instead of by session (set once).
    pub fn resolve_accounts(&self, resolver: Arc<dyn AccountResolver>) {
        let _ = self.accounts.set(resolver);
    }

    /// Shows browsers `page` instead of the built-in challenge page (set once, at start).
    pub fn use_challenge_page(&self, page: Arc<dyn ChallengePage>) {
        let _ = self.challenge_page.set(page);
    }

    /// Reads the lists, then keeps them fresh and writes counted refusals as security events,
    /// until the runtime stops.
    pub async fn start_background(self: &Arc<Self>) -> Result<(), ListError> {
        self.refresh_lists().await?;
        if self.enabled {
            self.spawn_cleaning();
        }
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        // What the meter counted before a crash reaches the database now.
        self.fold_usage().await?;
        let edge = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LIST_REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = edge.refresh_lists().await {
                    tracing::warn!(error = %e, "traffic lists not refreshed; the previous ones stay in force");
                }
                if let Err(e) = edge.fold_usage().await {
                    tracing::warn!(error = %e, "metered usage not saved; the meter file keeps it");
                }
            }
        });
        let edge = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                edge.flush_refusals(store.as_ref()).await;
            }
        });
        Ok(())
    }

    /// Writes the refusals counted since the last flush as security events.
    pub async fn flush_refusals(&self, store: &dyn TrafficStore) {
        for event in self.refusals.drain(self.clock.now(), FLUSH_EVERY) {
            if let Err(e) = store.record_security_event(&event).await {
                tracing::warn!(error = %e, "security event not recorded");
            }
        }
    }

    /// The store the edge writes to, if any.
    pub fn store(&self) -> Option<&Arc<dyn TrafficStore>> {
        self.store.as_ref()
    }

    pub fn shield(&self) -> &Shield {
        &self.shield
    }

    /// Microseconds since the edge started: the shield's clock.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Watches a policy file: every `every`, if its modification time changed, reads it and
    /// takes it if it is valid and newer. A bad file is logged with the field it gets wrong and
    /// the running policy stays.
    pub fn watch(self: &Arc<Self>, path: PathBuf, every: Duration) -> tokio::task::JoinHandle<()> {
        let edge = self.clone();
        tokio::spawn(async move {
            let mut seen: Option<SystemTime> = modified(&path);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = modified(&path);
                if now == seen {
                    continue;
                }
                seen = now;
                // Logged inside; the running policy stays on a failure. Off the runtime's
                // threads: a changed firewall section reloads the rule set.
                let (edge, path) = (edge.clone(), path.clone());
                let _ = tokio::task::spawn_blocking(move || edge.reload_from(&path)).await;
            }
        })
    }

    /// Reads the policy file and takes it if valid and newer; says what happened.
    pub fn reload_from(&self, path: &std::path::Path) -> Result<u32, String> {
        let outcome = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| Policy::from_toml(&text).map_err(|e| e.to_string()))
            .and_then(|policy| {
                let version = policy.version;
                self.shield
                    .reload(policy)
                    .map(|()| version)
                    .map_err(|e| e.to_string())
            });
        match &outcome {
            Ok(_) => self.refresh_firewall(),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "traffic-protection policy not reloaded; the running policy stays");
            }
        }
        outcome
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The middleware: every request passes the shield first.
pub async fn protect(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    // Load balancers' probes are neither examined nor billed.
    if !edge.enabled || req.uri().path() == HEALTH_PATH {
        return next.run(req).await;
    }
    match edge.exhaustion() {
        Some(Exhaustion::Pass) => {
            edge.count(Counted::Passed);
            return next.run(req).await;
        }
        Some(Exhaustion::Refuse) => {
            edge.count(Counted::Refused);
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "quota_exhausted",
                "the traffic-protection quota is used up",
                60_000_000,
            );
        }
        Some(Exhaustion::Keep) | None => {}
    }
    let req = if req.uri().path().starts_with(challenge::OWN_PREFIX) {
        match edge.own_path(req).await {
            Ok(answer) => {
                edge.count(Counted::Passed);
                return answer;
            }
            Err(req) => req,
        }
    } else {
        req
    };
    edge.meter.request(request_bytes(&req));
    let started = edge.now_us();
    // The verdict is reached outside the async state machine: only the admission is held
    // across the route's await, which keeps the future small.
    let admission = match judge(&edge, &req, started) {
        Ok(admission) => admission,
        Err(refusal) => {
            // A tarpit: the refusal is held a while, so a client waiting on each answer slows
            // down; holding it costs a timer, not a thread.
            if let Some(Hold(d)) = refusal.extensions().get::<Hold>().copied() {
                tokio::time::sleep(d).await;
            }
            return *refusal;
        }
    };
    if !admission.shared.is_empty() {
        if let shared::SharedVerdict::Over {
            limit,
            retry_after_us,
        } = edge.check_shared(&admission.shared).await
        {
            edge.count(Counted::Refused);
            edge.refusals.note(
                admission.client,
                Refusal {
                    kind: "traffic_refused",
                    what: format!("rate_limited: {limit}"),
                },
            );
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!("too many requests ({limit})"),
                retry_after_us,
            );
        }
    }
    edge.count(Counted::Passed);
    if admission.wait_us > 0 {
        tokio::time::sleep(Duration::from_micros(admission.wait_us)).await;
    }
    let mut req = req;
    req.extensions_mut()
        .insert(firewall::Client(admission.client));
    req.extensions_mut().insert(ClientSignals {
        suspicious: admission.suspicious,
    });
    let response = next.run(req).await;
    edge.meter.response(
        axum::body::HttpBody::size_hint(response.body())
            .exact()
            .unwrap_or(0),
    );
    let now = edge.now_us();
    edge.shield.finished(now.saturating_sub(started), now);
    // The request's places in flight are given back only now.
    drop(admission);
    response
}

/// What traffic protection's bot signals said of a request it let through, left in the
/// request's extensions for the routes (risk control reads it).
#[derive(Debug, Clone, Copy)]
pub struct ClientSignals {
    /// Scored at or above the signals' `challenge_at`.
    pub suspicious: bool,
}

/// A cookie's value from the request, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The header a client names its device in (traffic protection keys device limits and lists by
/// it; risk control links the accounts that share one).
pub const DEVICE_HEADER: &str = "x-device-id";

/// The session cookie Gatehouse's API sets (the edge binds passes to the session).
pub const SESSION_COOKIE: &str = "gh_session";

/// What the edge reads from a request's head.
pub(crate) struct RequestView<'a> {
    peer: IpAddr,
    forwarded: [&'a str; MAX_FORWARDED_HEADERS],
    n_forwarded: usize,
    headers: &'a HeaderMap,
}

impl<'a> RequestView<'a> {
    pub(crate) fn of(headers: &'a HeaderMap, extensions: &axum::http::Extensions) -> Self {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let mut forwarded = [""; MAX_FORWARDED_HEADERS];
        let mut n_forwarded = 0;
        for (slot, value) in forwarded
            .iter_mut()
            .zip(headers.get_all("x-forwarded-for").iter())
        {
            *slot = value.to_str().unwrap_or("");
            n_forwarded += 1;
        }
        Self {
            peer,
            forwarded,
            n_forwarded,
            headers,
        }
    }

    fn forwarded(&self) -> &[&'a str] {
        self.forwarded.get(..self.n_forwarded).unwrap_or(&[])
    }

    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn bearer(&self) -> Option<&'a str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
    }

    pub(crate) fn user_agent(&self) -> &'a str {
        self.header("user-agent").unwrap_or("")
    }

    /// The session credential as sent: the bearer token, else the session cookie.
    pub(crate) fn session(&self) -> &'a str {
        self.bearer()
            .or_else(|| cookie(self.headers, SESSION_COOKIE))
            .unwrap_or("")
    }

    pub(crate) fn pass(&self) -> Option<&'a str> {
        self.header(challenge::PASS_HEADER)
            .or_else(|| cookie(self.headers, challenge::PASS_COOKIE))
    }
}

/// How long a refusal is held before it is sent (the policy's `[tarpit]`).
#[derive(Debug, Clone, Copy)]
struct Hold(Duration);

fn held(mut response: Response, ms: u32) -> Box<Response> {
    if ms > 0 {
        response
            .extensions_mut()
            .insert(Hold(Duration::from_millis(u64::from(ms))));
    }
    Box::new(response)
}

/// A request's size as the wire carries it, near enough: request line, headers, body.
fn request_bytes(req: &Request) -> u64 {
    let body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    u64::try_from(head_bytes(req))
        .unwrap_or(u64::MAX)
        .saturating_add(body)
}

/// A request's line and headers in bytes, near enough (what a header-size limit judges).
pub fn head_bytes(req: &Request) -> usize {
    req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
}

/// The shield's verdict on a request, or the refusal to send.
fn judge(edge: &Edge, req: &Request, now_us: u64) -> Result<Admission, Box<Response>> {
    let view = RequestView::of(req.headers(), req.extensions());
    let bearer = view.bearer();
    // The account behind the session when the cache knows it, else the session itself.
    let resolved = bearer
        .and_then(|b| edge.accounts.get().and_then(|r| r.cached_account(b)))
        .map(|id| id.0.to_string());
    let account = resolved.as_deref().or(bearer);
    let session = view.session();
    let facts = RequestFacts {
        method: req.method().as_str(),
        path: req.uri().path(),
        peer: view.peer,
        forwarded_for: view.forwarded(),
        account,
        device: view.header(DEVICE_HEADER),
        user_agent: Some(view.user_agent()),
        session: (!session.is_empty()).then_some(session),
        pass: view.pass(),
        unix_now: edge.unix_now(),
        accept: view.header("accept"),
        accept_language: view.header("accept-language"),
        fetch_metadata: view.headers.contains_key("sec-fetch-mode")
            || view.headers.contains_key("sec-fetch-site")
            || view.headers.contains_key("sec-fetch-dest"),
    };
    match edge.shield.check(&facts, now_us) {
        Verdict::Allow(admission) => Ok(admission),
        Verdict::Limited {
            client,
            limit,
            retry_after_us,
        } => {
            tracing::debug!(%client, limit = %limit, "request over a traffic limit");
            edge.count(Counted::Refused);
            let message = format!("too many requests ({limit})");
            edge.refusals.note(
                client,
                Refusal {
                    kind: "traffic_refused",
                    what: format!("rate_limited: {limit}"),
                },
            );
            let hold = edge.shield.policy().tarpit.limited_ms;
            Err(held(
                refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    &message,
                    retry_after_us,
                ),
                hold,
            ))
        }
        Verdict::FlowFull {
            client,
            rule,
            in_flight,
        } => {
            tracing::debug!(%client, rule = %rule, in_flight, "route at its flow limit");
            edge.count(Counted::Refused);
            edge.refusals.note(
                client,
                Refusal {
                    kind: "traffic_refused",
                    what: format!(
                        "{}: {rule}",
                        if in_flight {
                            "overloaded"
                        } else {
                            "flow_limited"
                        }
                    ),
                },
            );
            Err(Box::new(if in_flight {
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    &format!("too many requests in progress ({rule})"),
                    1_000_000,
                )
            } else {
                refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "flow_limited",
                    &format!("this service is at its rate ({rule})"),
                    1_000_000,
                )
            }))
        }
        Verdict::Blocked {
            client,
            entry,
            reason,
        } => {
            tracing::debug!(%client, entry, "request from a blocked client");
            edge.count(Counted::Blocked);
            edge.refusals.note(
                client,
                Refusal {
                    kind: "traffic_blocked",
                    what: format!("blocked by list entry {entry} ({reason})"),
                },
            );
            Err(held(blocked(entry), edge.shield.policy().tarpit.blocked_ms))
        }
        Verdict::Challenge {
            client,
            sale,
            binding,
            score,
        } => {
            tracing::debug!(%client, sale = %sale, %score, "challenged");
            edge.count(Counted::Challenged);
            edge.sales.note(&sale, |t| t.challenged += 1);
            edge.refusals.note(
                client,
                Refusal {
                    kind: "traffic_challenged",
                    what: if score.total > 0 {
                        format!("challenged for {sale} ({score})")
                    } else {
                        format!("challenged for {sale}")
                    },
                },
            );
            Err(Box::new(edge.challenge_response(
                req.method(),
                req.uri().path(),
                req.headers(),
                binding,
                &sale,
            )))
        }
        Verdict::Bot { client, score } => {
            tracing::debug!(%client, %score, "request refused by the bot signals");
            edge.count(Counted::Blocked);
            edge.refusals.note(
                client,
                Refusal {
                    kind: "traffic_bot_blocked",
                    what: format!("bot signals ({score})"),
                },
            );
            Err(held(
                error_response(
                    StatusCode::FORBIDDEN,
                    "bot_blocked",
                    "this request looks automated and was refused; if you are a person, try again from a browser",
                    None,
                ),
                edge.shield.policy().tarpit.blocked_ms,
            ))
        }
        Verdict::Shed { client } => {
            tracing::debug!(%client, "request shed under load");
            edge.count(Counted::Refused);
            edge.refusals.note(
                client,
                Refusal {
                    kind: "traffic_refused",
                    what: "overloaded: shed under load".into(),
                },
            );
            Err(Box::new(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the service is busy",
                1_000_000,
            )))
        }
    }
}

/// An answer in the API's error shape: `{code, message, field}`.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let body = serde_json::json!({ "code": code, "message": message, "field": field });
    (status, axum::Json(body)).into_response()
}

/// 403 for a client on a block list: the entry's number as a reference, never its reason.
fn blocked(entry: i64) -> Response {
    error_response(
        StatusCode::FORBIDDEN,
        "blocked",
        &format!("requests from this client are blocked; if this is a mistake, contact the museum quoting reference {entry}"),
        None,
    )
}

/// A refusal with the API's error shape and `Retry-After` in whole seconds (rounded up).
pub(crate) fn refuse(status: StatusCode, code: &str, what: &str, retry_after_us: u64) -> Response {
    let secs = retry_after_us.div_ceil(1_000_000).max(1);
    let mut response = error_response(
        status,
        code,
        &format!("{what}; try again in {secs} s"),
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}
