//! Who is calling and what they may do. A session travels either as `Authorization: Bearer`
//! (apps, mini-programs, staff tools) or in the `gh_session` cookie (the web). Cookie-borne
//! sessions must echo the CSRF token in `X-CSRF-Token` on every unsafe request; the token is
//! derived from the session token, so it needs no storage and dies with the session.
//!
//! Every route declares what it needs, once, in its OpenAPI `security` entry (no entry: public;
//! an empty scope list: any signed-in account; one scope: that permission), and takes the
//! matching extractor: [`Caller`] or [`Allowed`]. The route-permission test in this crate's
//! integration tests checks each declaration against the role table in `gatehouse-domain`.

use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use gatehouse_domain::access::Permission;
use gatehouse_identity::{Authenticated, IssuedSession};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;

pub use gatehouse_edge::SESSION_COOKIE;
pub const REFRESH_COOKIE: &str = "gh_refresh";
pub const CSRF_COOKIE: &str = "gh_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session token.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("gatehouse-csrf\0{session_token}").as_bytes());
    hex::encode(digest.get(..16).unwrap_or_default())
}

pub use gatehouse_edge::cookie;

/// `Set-Cookie` headers that carry a session to the browser.
pub fn session_cookies(
    headers: &mut HeaderMap,
    session: &IssuedSession,
    now: jiff::Timestamp,
) -> String {
    let csrf = csrf_token(&session.access_token);
    let max_age = (session.expires_at - now).get_seconds().max(0);
    let mut set = |value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(SET_COOKIE, v);
        }
    };
    set(format!(
        "{SESSION_COOKIE}={}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={max_age}",
        session.access_token
    ));
    set(format!(
        "{CSRF_COOKIE}={csrf}; Secure; SameSite=Lax; Path=/; Max-Age={max_age}"
    ));
    if let (Some(refresh), Some(until)) = (&session.refresh_token, session.refresh_expires_at) {
        let max_age = (until - now).get_seconds().max(0);
        set(format!(
            "{REFRESH_COOKIE}={refresh}; HttpOnly; Secure; SameSite=Strict; Path=/api/v1/auth; Max-Age={max_age}"
        ));
    }
    csrf
}

/// `Set-Cookie` headers that remove the session cookies.
pub fn clear_session_cookies(headers: &mut HeaderMap) {
    for (name, path) in [
        (SESSION_COOKIE, "/"),
        (CSRF_COOKIE, "/"),
        (REFRESH_COOKIE, "/api/v1/auth"),
    ] {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{name}=; HttpOnly; Secure; SameSite=Lax; Path={path}; Max-Age=0"
        )) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// The signed-in caller, with the session it used.
pub struct Caller(pub Authenticated);

/// How the caller's session arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Bearer,
    Cookie,
}

/// The credential in `Authorization: Bearer …`, if the request sends one.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<(Authenticated, Carrier), ApiError> {
    let (token, carrier) = match bearer_token(&parts.headers) {
        Some(t) => (t.trim(), Carrier::Bearer),
        None => (
            cookie(&parts.headers, SESSION_COOKIE).ok_or(ApiError::Unauthorized)?,
            Carrier::Cookie,
        ),
    };
    let session = state
        .identity
        .authenticate(token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if carrier == Carrier::Cookie
        && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
    {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let expected = csrf_token(token);
        let ok = sent.is_some_and(|s| {
            subtle::ConstantTimeEq::ct_eq(s.as_bytes(), expected.as_bytes()).into()
        });
        if !ok {
            return Err(ApiError::CsrfMismatch);
        }
    }
    Ok((session, carrier))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (session, carrier) = authenticate(parts, state).await?;
        if let Some((entry, _)) = state.edge.account_blocked(session.account.id) {
            return Err(ApiError::Blocked(entry));
        }
        parts.extensions.insert(carrier);
        Ok(Caller(session))
    }
}

/// A permission as a type, so a handler's signature says what it needs.
pub trait Needs {
    const PERMISSION: Permission;
}

/// Permission marker types, one per [`Permission`].
pub mod perm {
    use super::{Needs, Permission};

    macro_rules! markers {
        ($($name:ident),* $(,)?) => {$(
            pub struct $name;
            impl Needs for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }

    markers!(
        SelfService,
        CatalogueManage,
        OrdersRead,
        OrdersManage,
        AccountsLock,
        StaffManage,
        CheckIn,
        RiskManage,
        RiskAssess,
        FirewallManage,
        IntelManage,
        AuditRead,
        SmsOutboxRead,
        PaymentsReconcile,
        SecurityEventsRead,
        GatesManage,
        TrafficManage,
        PersonalDataReveal,
        DataRequestsManage,
        BreachManage,
    );
}

/// A signed-in caller whose roles grant `P`; anyone else gets 403 `forbidden`.
pub struct Allowed<P: Needs>(pub Authenticated, pub(crate) PhantomData<P>);

impl<P: Needs> FromRequestParts<AppState> for Allowed<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(session) = Caller::from_request_parts(parts, state).await?;
        if session.account.roles.allow(P::PERMISSION) {
            Ok(Allowed(session, PhantomData))
        } else {
            Err(ApiError::Forbidden(P::PERMISSION.as_str()))
        }
    }
}

/// The client's address (the TCP peer; `-` when unknown, as in router tests).
pub struct ClientIp(pub String);

impl ClientIp {
    /// Where a request came from, as the audit log keeps it: the client's network, never its
    /// address (`203.0.113.0/24`).
    pub fn origin(&self) -> String {
        gatehouse_domain::personal::mask_as(
            gatehouse_domain::personal::PersonalField::IpAddress,
            &self.0,
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "-".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

/// A registered, unrevoked gate device, authenticated by its own credential
/// (`Authorization: Bearer ghgate_…`). Staff sessions are not device credentials.
pub struct GateCaller(pub gatehouse_domain::gate::GateDevice);

impl FromRequestParts<AppState> for GateCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers)
            .ok_or(ApiError::Gate(gatehouse_gates::GateError::DeviceUnknown))?;
        Ok(GateCaller(
            state.gates.authenticate_device(token.trim()).await?,
        ))
    }
}
