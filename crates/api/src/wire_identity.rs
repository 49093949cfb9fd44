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
    /// Locks the no-show rule placed because of this account's bookings: why and until when.
    pub booking_locks: Vec<crate::wire_gates::NoShowLockResponse>,
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
    /// The record's place in the log (1, 2, 3 …).
    pub seq: u64,
    pub at: String,
    pub actor: Option<i64>,
    pub role: Option<String>,
    pub action: String,
    /// The record acted on (`order:…`, `account:7`).
    pub subject: Option<String>,
    pub field: Option<String>,
    pub purpose: Option<String>,
    /// The client's network, never its address.
    pub origin: Option<String>,
    pub detail: String,
    /// The record's chain hash (hex): what `gatehouse audit verify` checks.
    pub hash: String,
}

impl From<gatehouse_domain::audit::AuditRecord> for AuditEventResponse {
    fn from(r: gatehouse_domain::audit::AuditRecord) -> Self {
        let e = r.entry;
        Self {
            seq: r.seq,
            at: e.at.to_string(),
            actor: e.actor.map(|a| a.0),
            role: e.role,
            action: e.action,
            subject: e.subject,
            field: e.field,
            purpose: e.purpose,
            origin: e.origin,
            detail: e.detail,
            hash: hex::encode(r.hash),
        }
    }
}

/// What auditors search the log by; every part optional.
#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<i64>,
    pub action: Option<String>,
    pub subject: Option<String>,
    /// RFC 3339 instants.
    pub since: Option<String>,
    pub until: Option<String>,
    /// At most this many records (default 200, at most 1000).
    pub limit: Option<u32>,
    /// `json` (default) or `jsonl`: one record a line, for export.
    pub format: Option<String>,
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentTextResponse {
    pub version: String,
    /// What is collected.
    pub collected: String,
    /// Why.
    pub reason: String,
    /// The full text shown to the visitor.
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The version of the consent text the visitor was shown and agreed to.
    pub text_version: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentResponse {
    pub id: String,
    pub purpose: String,
    pub text_version: String,
    pub collected: String,
    pub reason: String,
    pub given_at: String,
    /// When it was withdrawn (it no longer counts), if it was.
    pub withdrawn_at: Option<String>,
}

impl From<gatehouse_domain::face::Consent> for ConsentResponse {
    fn from(c: gatehouse_domain::face::Consent) -> Self {
        Self {
            id: c.id,
            purpose: c.purpose,
            text_version: c.text_version,
            collected: c.collected,
            reason: c.reason,
            given_at: c.given_at.to_string(),
            withdrawn_at: c.withdrawn_at.map(|t| t.to_string()),
        }
    }
}

/// Whom to verify: a frequent visitor, or a person written out (resident ID only).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceVerificationRequest {
    pub visitor_id: Option<String>,
    pub name: Option<String>,
    pub id_type: Option<IdType>,
    pub id_number: Option<String>,
    /// Where the provider sends the person back to after the check.
    pub return_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FaceVerificationResponse {
    pub id: String,
    /// `pending`, `passed` or `failed`.
    pub state: String,
    /// Where the person does the liveness check (only when just started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certify_url: Option<String>,
    pub started_at: String,
    pub completed_at: Option<String>,
    /// Until when a pass counts.
    pub valid_until: Option<String>,
}

impl FaceVerificationResponse {
    pub fn of(f: gatehouse_domain::face::FaceVerification, certify_url: Option<String>) -> Self {
        Self {
            id: f.id,
            state: f.state.as_str().to_owned(),
            certify_url,
            started_at: f.started_at.to_string(),
            completed_at: f.completed_at.map(|t| t.to_string()),
            valid_until: f.valid_until.map(|t| t.to_string()),
        }
    }
}

/// The provider's completion callback, as Alibaba Cloud sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FaceCallbackQuery {
    #[serde(rename = "certifyId")]
    pub certify_id: String,
    #[serde(rename = "callbackToken")]
    pub callback_token: String,
    pub passed: Option<String>,
    pub subcode: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FaceCallbackResponse {
    pub state: String,
}

/// The identity provider's redirect back to Gatehouse.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SsoCallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the person or the provider refused.
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207 issuer identification, when the provider sends it.
    pub iss: Option<String>,
}
