//! Wire types of sign-in, sessions, the profile, frequent visitors and staff administration.

use gatehouse_identity::{IssuedSession, MaskedVisitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::wire::{AccountResponse, IdType};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneCodeRequest {
    /// A mainland mobile number (11 digits) or E.164.
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneCodeResponse {
    /// Always `true` when accepted: the answer is the same whether or not the phone has an
    /// account.
    pub sent: bool,
    /// When the code stops working (RFC 3339).
    pub expires_at: String,
    /// The earliest a new code can be asked for (RFC 3339).
    pub resend_after: String,
}

/// Where the session goes: `token` returns it in the body (apps, mini-programs); `cookie` sets
/// `HttpOnly; Secure; SameSite` cookies and returns only the CSRF token (the web).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionMode {
    #[default]
    Token,
    Cookie,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneSignInRequest {
    pub phone: String,
    /// The 6-digit code from the text message.
    pub code: String,
    #[serde(default)]
    pub mode: SessionMode,
}

/// The auth code a mini-program got from `my.getAuthCode` (Alipay) or `wx.login` (WeChat).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSignInRequest {
    pub code: String,
    #[serde(default)]
    pub mode: SessionMode,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; omit it when it travels in the `gh_refresh` cookie.
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub mode: SessionMode,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    pub username: String,
    pub password: String,
    /// The current 6-digit code of the authenticator app.
    pub totp: String,
    #[serde(default)]
    pub mode: SessionMode,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub account: AccountResponse,
    /// The bearer token (token mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    pub expires_at: String,
    /// Exchanged at `/api/v1/auth/refresh` for a new session (token mode, visitors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<String>,
    /// Send as `X-CSRF-Token` with every unsafe request authenticated by cookie (cookie mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

impl SessionResponse {
    pub fn of(s: &IssuedSession, mode: SessionMode, csrf: Option<String>) -> Self {
        let token = mode == SessionMode::Token;
        Self {
            account: s.account.clone().into(),
            access_token: token.then(|| s.access_token.clone()),
            expires_at: s.expires_at.to_string(),
            refresh_token: s.refresh_token.clone().filter(|_| token),
            refresh_expires_at: s.refresh_expires_at.map(|t| t.to_string()),
            csrf_token: csrf,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedOutResponse {
    /// How many sessions were ended.
    pub sessions: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse {
    pub account: AccountResponse,
    /// The sign-in phone, masked.
    pub phone: Option<String>,
    /// How the current session was started.
    pub signed_in_with: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    pub display_name: String,
}

/// A person the account books for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FrequentVisitorRequest {
    /// Required: the name as written on the document.
    pub name: String,
    /// Required.
    pub id_type: IdType,
    /// Required; resident ID numbers are checked fully.
    pub id_number: String,
    /// Optional mobile number.
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FrequentVisitorResponse {
    pub id: String,
    /// Masked.
    pub name: String,
    pub id_type: IdType,
    /// Masked.
    pub id_number: String,
    /// Masked.
    pub phone: Option<String>,
}

impl From<MaskedVisitor> for FrequentVisitorResponse {
    fn from(v: MaskedVisitor) -> Self {
        Self {
            id: v.id,
            name: v.name,
            id_type: v.id_kind.into(),
            id_number: v.id_number,
            phone: v.phone,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FrequentVisitorListResponse {
    pub visitors: Vec<FrequentVisitorResponse>,
    /// How many the list may hold.
    pub max: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesRequest {
    /// Role names; see `AccountResponse.roles`.
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    pub at: String,
    pub actor: Option<i64>,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditListResponse {
    pub events: Vec<AuditEventResponse>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessage {
    pub phone: String,
    pub text: String,
    pub sent_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxResponse {
    pub messages: Vec<OutboxMessage>,
}
