//! Challenges at the HTTP edge: the answer to a request that needs a pass (a page with the
//! solver for browsers, JSON for API clients), the solver script, and the endpoint that checks
//! a solution and hands out the pass (cookie `gh_pass`, or the `pass` field for clients that
//! send it back in `X-Gatehouse-Pass`). The SMS path for people who cannot run the work lives
//! with the API (it needs the phone codes of sign-in) and gets its pass from [`Edge::sms_pass`].

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_shield::{solves, Binding, Challenge, Gcra, TokenRefused, Via};
use serde::Deserialize;

use crate::{Edge, RequestView};

/// Where solutions are posted.
pub const CHALLENGE_PATH: &str = "/.gatehouse/challenge";
/// The solver script.
pub const SOLVER_PATH: &str = "/.gatehouse/solver.js";
/// The prefix of the challenge's own paths, which no challenge rule covers.
pub const OWN_PREFIX: &str = gatehouse_shield::OWN_PATHS;
pub const PASS_COOKIE: &str = "gh_pass";
pub const PASS_HEADER: &str = "x-gatehouse-pass";
/// Solutions checked per client address (of challenges we signed for it): a wrong solution to
/// a memory-hard challenge costs the server one hash, so attempts are limited.
fn attempts_allowed() -> Gcra {
    Gcra::new(30, 60)
}
const MAX_ANSWER_BYTES: usize = 2048;

const SOLVER_JS: &str = include_str!("../assets/solver.js");
const PAGE: &str = include_str!("../assets/challenge.html");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    token: String,
    sale: String,
    counter: u64,
}

use crate::error_response as error;

fn refused(e: TokenRefused) -> Response {
    match e {
        TokenRefused::Malformed | TokenRefused::Forged => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "challenge_invalid",
            "this is not a challenge we issued; ask for a new one",
            Some("token"),
        ),
        TokenRefused::Expired => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "challenge_expired",
            "the challenge has expired; ask for a new one",
            Some("token"),
        ),
        TokenRefused::OtherClient => error(
            StatusCode::FORBIDDEN,
            "challenge_other_client",
            "the challenge was issued to another client, browser, session or sale",
            Some("token"),
        ),
        TokenRefused::WorkInsufficient => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "work_insufficient",
            "the counter does not solve the challenge",
            Some("counter"),
        ),
    }
}

/// The pass as a cookie for the whole site, for as long as it lasts.
fn pass_cookie(pass: &str, secs: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{PASS_COOKIE}={pass}; Path=/; Max-Age={secs}; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

/// A pass answer: the cookie, and the token in JSON for clients that send it back themselves.
fn pass_response(pass: &str, secs: u64) -> Response {
    let mut response =
        axum::Json(serde_json::json!({ "pass": pass, "expires_in_secs": secs })).into_response();
    if let Some(cookie) = pass_cookie(pass, secs) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn wants_page(method: &Method, headers: &HeaderMap) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// What a pass for `sale` is bound to: the client's network, its browser and its session.
fn binding(view: &RequestView<'_>, client: IpAddr, sale: &str) -> Binding {
    Binding::of(client, view.user_agent(), view.session(), sale)
}

impl Edge {
    /// The answer to a request that needs a pass: a fresh challenge bound to the client.
    pub(crate) fn challenge_response(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        binding: Binding,
        sale: &str,
    ) -> Response {
        let unix_now = self.unix_now();
        let (token, settings) = self.shield.challenge(binding, unix_now);
        let challenge = serde_json::json!({
            "token": token,
            "work": settings.work.name(),
            "difficulty": settings.difficulty,
            "memory_kib": settings.work.memory_kib(),
            "sale": sale,
            "verify": CHALLENGE_PATH,
            "solver": SOLVER_PATH,
            "expires_in_secs": settings.solve_secs,
        });
        if wants_page(method, headers) {
            // `<` never appears in our JSON unescaped, so the data block cannot close early.
            let data = challenge.to_string().replace('<', "\\u003c");
            if let Some(custom) = self.challenge_page.get() {
                let mut response = custom.render(path, headers, &data, self.sms_offered());
                *response.status_mut() = StatusCode::FORBIDDEN;
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return response;
            }
            let page = PAGE
                .replace("{{CHALLENGE}}", &data)
                .replace("{{SMS}}", if self.sms_offered() { "" } else { "hidden" });
            let mut response = (StatusCode::FORBIDDEN, axum::response::Html(page)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return response;
        }
        let body = serde_json::json!({
            "code": "challenge_required",
            "message": "solve the challenge (see challenge.work) and post {token, sale, counter} to challenge.verify; send the pass back in X-Gatehouse-Pass",
            "field": null,
            "challenge": challenge,
        });
        (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
    }

    /// A route's own demand for a pass (risk control answered `challenge` for what the request
    /// does): Ok when the request carries a valid pass bound to this client, browser, session
    /// and `sale`; else the challenge to answer with (the page for browsers, JSON for API
    /// clients), whose solution earns that pass.
    pub fn demand_pass(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        extensions: &axum::http::Extensions,
        sale: &str,
    ) -> Result<(), Box<Response>> {
        let view = RequestView::of(headers, extensions);
        let client = self.client_of(&view);
        let binding = binding(&view, client, sale);
        let shown = view.pass().is_some_and(|p| {
            self.shield
                .passes()
                .check_pass(p, binding, self.unix_now())
                .is_ok()
        });
        if shown {
            return Ok(());
        }
        self.sales.note(sale, |t| t.challenged += 1);
        Err(Box::new(
            self.challenge_response(method, path, headers, binding, sale),
        ))
    }

    /// The edge's own paths: the solver script and the solution check. None for any other path.
    pub(crate) async fn own_path(&self, req: Request) -> Result<Response, Request> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, SOLVER_PATH) => Ok((
                [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                SOLVER_JS,
            )
                .into_response()),
            (&Method::POST, CHALLENGE_PATH) => Ok(self.check_answer(req).await),
            _ => Err(req),
        }
    }

    async fn check_answer(&self, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let view = RequestView::of(&parts.headers, &parts.extensions);
        let client = self.client_of(&view);
        if let Some(refusal) = self.listed_block(client) {
            return refusal;
        }
        let bytes = match axum::body::to_bytes(Body::new(body), MAX_ANSWER_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the answer is larger than the limit",
                    None,
                )
            }
        };
        let answer: Answer = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    &format!("send {{token, sale, counter}}: {e}"),
                    None,
                )
            }
        };
        let (binding, challenge) = match self.open_for(&view, client, &answer.token, &answer.sale) {
            Ok(opened) => opened,
            Err(e) => return refused(e),
        };
        // Only answers to challenges we signed for this client cost a check of the work.
        let key = self.attempts_key(client);
        if let Err(over) = self.attempts.check(key, attempts_allowed(), self.now_us()) {
            return crate::refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many challenge answers",
                over.retry_after_us,
            );
        }
        if !solves(&challenge, &answer.token, answer.counter) {
            self.sales.note(&answer.sale, |t| t.failed += 1);
            return refused(TokenRefused::WorkInsufficient);
        }
        self.sales.note(&answer.sale, |t| t.passed += 1);
        self.grant(binding, Via::Work)
    }

    /// Reads a challenge token back for this client (its network, browser, session) and `sale`.
    fn open_for(
        &self,
        view: &RequestView<'_>,
        client: IpAddr,
        token: &str,
        sale: &str,
    ) -> Result<(Binding, Challenge), TokenRefused> {
        let binding = binding(view, client, sale);
        let solve_secs = self.shield.policy().challenges.solve_secs;
        let challenge =
            self.shield
                .passes()
                .open_challenge(token, binding, self.unix_now(), solve_secs)?;
        Ok((binding, challenge))
    }

    /// The pass for `binding`: the cookie, and the token in JSON.
    fn grant(&self, binding: Binding, via: Via) -> Response {
        let pass_secs = self.shield.policy().challenges.pass_secs;
        let pass = self
            .shield
            .passes()
            .pass(binding, via, self.unix_now(), pass_secs);
        pass_response(&pass, pass_secs)
    }

    /// A pass earned by an SMS code (the API checked the code): the challenge token must have
    /// been issued to this client for `sale`. The answer is the pass, or why not.
    pub fn sms_pass(
        &self,
        headers: &HeaderMap,
        extensions: &axum::http::Extensions,
        token: &str,
        sale: &str,
    ) -> Response {
        let view = RequestView::of(headers, extensions);
        let client = self.client_of(&view);
        match self.open_for(&view, client, token, sale) {
            Ok((binding, _)) => {
                self.sales.note(sale, |t| t.passed += 1);
                self.grant(binding, Via::Sms)
            }
            Err(e) => refused(e),
        }
    }

    fn attempts_key(&self, client: IpAddr) -> u64 {
        self.attempts
            .key(0x6368_616c, &gatehouse_shield::address_key(client))
    }
}
