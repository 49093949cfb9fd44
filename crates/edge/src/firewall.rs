//! The web application firewall at the edge: [`inspect`] is the axum middleware that hands each
//! request (its head and its body, read up to the firewall's limit) to the OWASP CRS as the
//! policy's `[firewall]` section sets it up, and stops it with 403 `request_blocked` when the
//! rules do (blocking mode), or lets it through and records what would have stopped it
//! (detection only); with `inspect_response_bodies`, a response the outbound rules condemn is
//! replaced by the same 403. Each request the rules had anything to say about gets one JSON audit record
//! — rule ids, anomaly scores, the matched data with personal fields masked — and is counted
//! into the security events like every other refusal.
//!
//! The rules are loaded once at start and again, off the request path, when a reloaded policy
//! changes the section; a setup that does not load leaves the running firewall in place.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_shield::{FirewallMode, FirewallPolicy};
use gatehouse_waf::firewall::{Exclusion, Firewall, Outcome, RuleFiles, Setup};
use gatehouse_waf::rule::EngineMode;

use crate::audit::AuditLog;
use crate::events::Refusal;
use crate::{error_response, Edge, HEALTH_PATH};

/// The client the shield resolved (behind trusted proxies), left for the firewall.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

/// The rules as loaded for one policy section (none when the section turns them off).
pub(crate) struct Loaded {
    policy: FirewallPolicy,
    firewall: Option<Firewall>,
}

/// Where the firewall's rules come from and what runs now.
#[derive(Default)]
pub(crate) struct FirewallSlot {
    files: OnceLock<(RuleFiles, usize)>,
    current: ArcSwapOption<Loaded>,
    audit: OnceLock<AuditLog>,
}

/// The firewall's setup for a policy section; `body_limit` bounds the bodies it reads.
fn setup(policy: &FirewallPolicy, body_limit: usize) -> Setup {
    Setup {
        mode: match policy.mode {
            FirewallMode::Blocking => EngineMode::On,
            FirewallMode::DetectionOnly => EngineMode::DetectionOnly,
            FirewallMode::Off => EngineMode::Off,
        },
        paranoia_level: policy.paranoia_level,
        inbound_threshold: policy.inbound_threshold,
        outbound_threshold: policy.outbound_threshold,
        inspect_response_bodies: policy.inspect_response_bodies,
        request_body_limit: body_limit,
        exclusions: policy
            .exclusions
            .iter()
            .map(|x| Exclusion {
                method: x.route.method().map(str::to_owned),
                path_regex: x.route.path_regex(),
                rule_ids: x.rule_ids.clone(),
                rule_tags: x.rule_tags.clone(),
                arguments: x.arguments.clone(),
            })
            .collect(),
    }
}

fn load(files: &RuleFiles, body_limit: usize, policy: &FirewallPolicy) -> Result<Loaded, String> {
    let firewall = match policy.mode {
        FirewallMode::Off => None,
        _ => Some(Firewall::load(files, setup(policy, body_limit)).map_err(|e| e.to_string())?),
    };
    Ok(Loaded {
        policy: policy.clone(),
        firewall,
    })
}

impl Edge {
    /// Loads the firewall's rules from `files` with the policy's `[firewall]` section; bodies
    /// are read up to `body_limit` bytes (a larger one is refused with 413). Audit records go
    /// to `audit` (JSON lines), or to the log without one.
    pub fn attach_firewall(
        &self,
        files: RuleFiles,
        body_limit: usize,
        audit: Option<std::path::PathBuf>,
    ) -> Result<(), String> {
        let loaded = load(&files, body_limit, &self.shield.policy().firewall)?;
        self.firewall.current.store(Some(Arc::new(loaded)));
        let _ = self.firewall.files.set((files, body_limit));
        let _ = self.firewall.audit.set(AuditLog::start(audit)?);
        Ok(())
    }

    /// After a policy reload: reloads the rules if the `[firewall]` section changed. A setup
    /// that does not load is logged and the running rules stay.
    pub(crate) fn refresh_firewall(&self) {
        let Some((files, body_limit)) = self.firewall.files.get() else {
            return;
        };
        let policy = self.shield.policy();
        if self
            .firewall
            .current
            .load()
            .as_ref()
            .is_some_and(|l| l.policy == policy.firewall)
        {
            return;
        }
        match load(files, *body_limit, &policy.firewall) {
            Ok(loaded) => {
                tracing::info!(mode = ?policy.firewall.mode, paranoia = policy.firewall.paranoia_level, "firewall rules reloaded");
                self.firewall.current.store(Some(Arc::new(loaded)));
            }
            Err(e) => {
                tracing::error!(error = %e, "firewall not reloaded; the running rules stay");
            }
        }
    }

    /// The running firewall's policy section (none: no rules attached).
    pub fn firewall_policy(&self) -> Option<FirewallPolicy> {
        self.firewall
            .current
            .load()
            .as_ref()
            .map(|l| l.policy.clone())
    }
}

static TRANSACTIONS: AtomicU64 = AtomicU64::new(1);

/// The middleware: the request through the rules before any route sees it.
pub async fn inspect(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    let loaded = edge.firewall.current.load_full();
    let Some(firewall) = loaded.as_ref().and_then(|l| l.firewall.as_ref()) else {
        return next.run(req).await;
    };
    if req.uri().path() == HEALTH_PATH {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let limit = firewall.ruleset().settings.request_body_limit;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    &format!("the request body is larger than {limit} bytes"),
                    Some("body"),
                )
            } else {
                error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    "the request body could not be read",
                    Some("body"),
                )
            };
        }
    };
    let client = parts
        .extensions
        .get::<Client>()
        .map(|c| c.0)
        .or_else(|| {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let id = format!(
        "{:x}-{}",
        edge.unix_now(),
        TRANSACTIONS.fetch_add(1, Ordering::Relaxed)
    );
    let request = waf_request(&parts, &body, client);
    // This future holds the transaction (boxed, so the future stays small) across the route's
    // await only when responses are examined; otherwise it goes now.
    let tx = Box::new(firewall.examine_request(&request, id.clone()));
    let outcome = tx.outcome();
    let mut tx = firewall.setup().inspect_response_bodies.then_some(tx);
    let path = parts.uri.path().to_owned();
    let method = request.method.clone();
    drop(request);
    if !outcome.is_clean() {
        record(&edge, firewall, &id, client, &method, &path, &outcome);
    }
    if let Some(stop) = &outcome.stopped {
        return blocked(stop.status, &id, &outcome);
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let Some(tx) = tx.as_mut() else {
        return response;
    };
    // The response phases: its head, and its body when its size is known and within the limit
    // (a streamed or larger body goes out unexamined rather than held).
    let limit = firewall.ruleset().settings.response_body_limit;
    let (head, body) = response.into_parts();
    let size = axum::body::HttpBody::size_hint(&body).exact();
    let body = match size {
        Some(n) if usize::try_from(n).is_ok_and(|n| n <= limit) => {
            match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => bytes,
                Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
            }
        }
        _ => return Response::from_parts(head, body),
    };
    let seen = outcome.fired.len();
    tx.run_response(&gatehouse_waf::request::Response {
        status: head.status.as_u16(),
        protocol: format!("{:?}", head.version),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body: body.to_vec(),
    });
    let outcome = tx.outcome();
    if outcome.fired.len() > seen || outcome.stopped.is_some() {
        record(&edge, firewall, &id, client, &method, &path, &outcome);
    }
    if let Some(stop) = &outcome.stopped {
        // What the application answered is not sent: it may be the leak the rules saw.
        return blocked(stop.status, &id, &outcome);
    }
    Response::from_parts(head, Body::from(body))
}

/// The request as the firewall reads it.
fn waf_request(
    parts: &axum::http::request::Parts,
    body: &[u8],
    client: IpAddr,
) -> gatehouse_waf::request::Request {
    gatehouse_waf::request::Request {
        method: parts.method.as_str().to_owned(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        protocol: format!("{:?}", parts.version),
        headers: {
            let mut headers: Vec<(String, Vec<u8>)> = parts
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect();
            // HTTP/2 carries the host as the `:authority`, not as a header.
            if !parts.headers.contains_key(axum::http::header::HOST) {
                if let Some(authority) = parts.uri.authority() {
                    headers.push(("host".into(), authority.as_str().as_bytes().to_vec()));
                }
            }
            headers
        },
        body: body.to_vec(),
        client,
        client_port: 0,
        server_port: 0,
    }
}

/// The audit record and the security event of one examined request.
fn record(
    edge: &Edge,
    firewall: &Firewall,
    id: &str,
    client: IpAddr,
    method: &str,
    path: &str,
    outcome: &Outcome,
) {
    // Rules that fired without reaching a threshold are audited, not an event.
    let kind = if outcome.stopped.is_some() {
        Some("waf_blocked")
    } else {
        outcome.would_stop.as_ref().map(|_| "waf_detected")
    };
    if let Some(audit) = edge.firewall.audit.get() {
        audit.write(&crate::audit::record(
            id,
            edge.unix_now(),
            client,
            method,
            path,
            firewall.setup(),
            outcome,
        ));
    }
    if let Some(kind) = kind {
        let ids: Vec<String> = outcome.fired.iter().map(|f| f.id.to_string()).collect();
        edge.refusals.note(
            client,
            Refusal {
                kind,
                what: format!(
                    "firewall rules {} (inbound score {})",
                    ids.join(" "),
                    outcome.inbound_score
                ),
            },
        );
    }
}

/// 403 with the API's error shape: the reference finds the audit record; the rules stay unsaid.
fn blocked(status: u16, id: &str, outcome: &Outcome) -> Response {
    let field = outcome.fired.iter().find_map(|f| {
        f.matched
            .as_ref()
            .and_then(|(name, _)| crate::audit::api_field(name))
    });
    let mut response = error_response(
        StatusCode::FORBIDDEN,
        "request_blocked",
        &format!("the request was refused by the web application firewall; if this is a mistake, contact the museum quoting reference {id}"),
        field.as_deref(),
    );
    if let Ok(s) = StatusCode::from_u16(status) {
        if s.is_client_error() {
            *response.status_mut() = s;
        }
    }
    response.into_response()
}
