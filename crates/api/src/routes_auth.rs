//! Sign-in routes: phone codes, the Alipay and WeChat mini-programs, refresh, sign-out, and the
//! staff break-glass sign-in.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_identity::{IdentityError, IssuedSession};

use crate::auth::{
    clear_session_cookies, cookie, session_cookies, Caller, ClientIp, REFRESH_COOKIE,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::wire_identity::*;
use crate::AppState;

/// The answer to a sign-in: the session in the body or in cookies.
fn signed_in(
    app: &AppState,
    session: &IssuedSession,
    mode: SessionMode,
) -> (HeaderMap, Json<SessionResponse>) {
    let mut headers = HeaderMap::new();
    let csrf = (mode == SessionMode::Cookie)
        .then(|| session_cookies(&mut headers, session, app.identity.now()));
    (headers, Json(SessionResponse::of(session, mode, csrf)))
}

/// Send a sign-in code to a phone by text message. The answer is the same whether or not the
/// phone has an account.
#[utoipa::path(post, path = "/api/v1/auth/phone/code", tag = "auth", request_body = PhoneCodeRequest,
    responses((status = 202, body = PhoneCodeResponse), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "rate_limited, with Retry-After")))]
pub async fn send_phone_code(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PhoneCodeRequest>,
) -> Result<(StatusCode, Json<PhoneCodeResponse>), ApiError> {
    send_code(&app, &ip, &req, "/api/v1/auth/phone/code").await
}

/// Sends a sign-in code for the route at `path` (sign-in, or the SMS path of a challenge),
/// after the phone's own limits.
pub(crate) async fn send_code(
    app: &AppState,
    ip: &str,
    req: &PhoneCodeRequest,
    path: &str,
) -> Result<(StatusCode, Json<PhoneCodeResponse>), ApiError> {
    crate::subjects::count_phone(app, "POST", path, &req.phone, "phone").await?;
    let sent = app.identity.send_phone_code(&req.phone, ip).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PhoneCodeResponse {
            sent: true,
            expires_at: sent.expires_at.to_string(),
            resend_after: sent.resend_after.to_string(),
        }),
    ))
}

/// Sign in with a phone and the code sent to it; a new phone gets an account.
#[utoipa::path(post, path = "/api/v1/auth/phone/sign-in", tag = "auth", request_body = PhoneSignInRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody, description = "code_wrong, code_expired"),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn phone_sign_in(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    client: crate::risk_checks::RiskClient,
    ApiJson(req): ApiJson<PhoneSignInRequest>,
) -> Result<(HeaderMap, Json<SessionResponse>), ApiError> {
    let session = app
        .identity
        .sign_in_with_phone(&req.phone, &req.code, &ip)
        .await?;
    crate::risk_checks::seen(
        &app,
        session.account.id,
        &client,
        gatehouse_risk::features::Happening::SignIn,
    );
    Ok(signed_in(&app, &session, req.mode))
}

/// Sign in from the Alipay mini-program with its auth code; a new Alipay user gets an account.
#[utoipa::path(post, path = "/api/v1/auth/alipay/sign-in", tag = "auth", request_body = ProviderSignInRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody, description = "provider_refused"),
        (status = 404, body = ErrorBody, description = "provider_not_configured"), (status = 502, body = ErrorBody, description = "provider_unavailable")))]
pub async fn alipay_sign_in(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ProviderSignInRequest>,
) -> Result<(HeaderMap, Json<SessionResponse>), ApiError> {
    let session = app
        .identity
        .sign_in_external("alipay", &req.code, &ip)
        .await?;
    Ok(signed_in(&app, &session, req.mode))
}

/// Sign in from the WeChat mini-program with its `wx.login` code; a new WeChat user gets an
/// account.
#[utoipa::path(post, path = "/api/v1/auth/wechat/sign-in", tag = "auth", request_body = ProviderSignInRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody, description = "provider_refused"),
        (status = 404, body = ErrorBody, description = "provider_not_configured"), (status = 502, body = ErrorBody, description = "provider_unavailable")))]
pub async fn wechat_sign_in(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ProviderSignInRequest>,
) -> Result<(HeaderMap, Json<SessionResponse>), ApiError> {
    let session = app
        .identity
        .sign_in_external("wechat", &req.code, &ip)
        .await?;
    Ok(signed_in(&app, &session, req.mode))
}

/// Staff single sign-on: redirects the browser to the identity provider.
#[utoipa::path(get, path = "/api/v1/auth/staff/sso/start", tag = "auth",
    responses((status = 303, description = "to the identity provider"), (status = 404, body = ErrorBody, description = "provider_not_configured")))]
pub async fn staff_sso_start(
    State(app): State<AppState>,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    let url = app.identity.start_staff_sso().await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        axum::http::header::LOCATION,
        axum::http::HeaderValue::from_str(&url).map_err(|_| ApiError::Internal)?,
    );
    Ok((StatusCode::SEE_OTHER, headers))
}

/// Staff single sign-on: the identity provider's redirect back. Signs the staff member in with
/// session cookies and answers the session (the CSRF token is in the body); a browser (one
/// that accepts HTML) is sent on to the staff console instead.
#[utoipa::path(get, path = "/api/v1/auth/staff/sso/callback", tag = "auth",
    params(("code" = Option<String>, Query), ("state" = Option<String>, Query), ("error" = Option<String>, Query), ("iss" = Option<String>, Query)),
    responses((status = 200, body = SessionResponse), (status = 303, description = "to the staff console, for a browser"), (status = 401, body = ErrorBody, description = "session_invalid (state), provider_refused"),
        (status = 403, body = ErrorBody, description = "no Gatehouse role"), (status = 502, body = ErrorBody)))]
pub async fn staff_sso_callback(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    request_headers: HeaderMap,
    ApiQuery(q): ApiQuery<SsoCallbackQuery>,
) -> Result<axum::response::Response, ApiError> {
    if let Some(error) = q.error {
        let detail = q.error_description.unwrap_or_default();
        return Err(IdentityError::ProviderRefused {
            provider: "staff single sign-on",
            message: format!("{error} {detail}").chars().take(200).collect(),
        }
        .into());
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(ApiError::field(
            "code",
            "the provider's redirect carries code and state",
        ));
    };
    if code.len() > 2048 || state.len() > 256 {
        return Err(IdentityError::SessionInvalid.into());
    }
    let session = app
        .identity
        .finish_staff_sso(&state, &code, q.iss.as_deref(), &ip)
        .await?;
    let browser = request_headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser {
        let mut response = axum::response::Redirect::to("/staff").into_response();
        session_cookies(response.headers_mut(), &session, app.identity.now());
        return Ok(response);
    }
    Ok(signed_in(&app, &session, SessionMode::Cookie).into_response())
}

/// Exchange a refresh token (body or `gh_refresh` cookie) for a new session. Each refresh
/// token works once; using one twice signs its whole chain out.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody, description = "session_invalid")))]
pub async fn refresh(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<(HeaderMap, Json<SessionResponse>), ApiError> {
    let token = match &req.refresh_token {
        Some(t) => t.as_str(),
        None => cookie(&headers, REFRESH_COOKIE).ok_or(IdentityError::SessionInvalid)?,
    };
    let session = app.identity.refresh(token).await?;
    Ok(signed_in(&app, &session, req.mode))
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SignedOutResponse), (status = 401, body = ErrorBody)))]
pub async fn sign_out(
    State(app): State<AppState>,
    Caller(session): Caller,
) -> Result<(HeaderMap, Json<SignedOutResponse>), ApiError> {
    app.identity.sign_out(&session).await?;
    let mut headers = HeaderMap::new();
    clear_session_cookies(&mut headers);
    Ok((headers, Json(SignedOutResponse { sessions: 1 })))
}

/// End every session of this account, on every device.
#[utoipa::path(post, path = "/api/v1/auth/sign-out-everywhere", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SignedOutResponse), (status = 401, body = ErrorBody)))]
pub async fn sign_out_everywhere(
    State(app): State<AppState>,
    Caller(session): Caller,
) -> Result<(HeaderMap, Json<SignedOutResponse>), ApiError> {
    let n = app.identity.sign_out_everywhere(session.account.id).await?;
    let mut headers = HeaderMap::new();
    clear_session_cookies(&mut headers);
    Ok((headers, Json(SignedOutResponse { sessions: n })))
}

/// Staff break-glass sign-in (password and TOTP), for when single sign-on is unavailable.
#[utoipa::path(post, path = "/api/v1/auth/break-glass", tag = "auth", request_body = BreakGlassRequest,
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody, description = "credentials_invalid"),
        (status = 429, body = ErrorBody)))]
pub async fn break_glass(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<BreakGlassRequest>,
) -> Result<(HeaderMap, Json<SessionResponse>), ApiError> {
    let session = app
        .identity
        .sign_in_break_glass(&req.username, &req.password, &req.totp, &ip)
        .await?;
    Ok(signed_in(&app, &session, req.mode))
}
