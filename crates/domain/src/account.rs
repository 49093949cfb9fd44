//! Accounts and everything a sign-in writes: sessions, one-time phone codes, links to Alipay,
//! WeChat and the staff identity provider, staff break-glass credentials, frequent visitors and
//! the audit trail, with the storage port ([`AccountStore`]) the identity service needs.
//!
//! Secrets never reach this layer in the clear: session tokens arrive as SHA-256 hashes, codes
//! as keyed MACs, personal values sealed or blind-indexed, passwords as Argon2id PHC strings.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::access::Roles;
use crate::face::{Consent, FaceState, FaceVerification};
use crate::identity::IdKind;
use crate::order::AccountId;
use crate::personal::{BlindIndex, Sealed};
use crate::store::StoreError;

/// A signed-in party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub display_name: String,
    pub roles: Roles,
    pub locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// How a session was started; kept with the session and in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    PhoneCode,
    Alipay,
    WeChat,
    StaffSso,
    BreakGlass,
    /// Issued by an operator's command on the server itself (`gatehouse admin`).
    Console,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::PhoneCode => "phone_code",
            SignInMethod::Alipay => "alipay",
            SignInMethod::WeChat => "wechat",
            SignInMethod::StaffSso => "staff_sso",
            SignInMethod::BreakGlass => "break_glass",
            SignInMethod::Console => "console",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SignInMethod::PhoneCode,
            SignInMethod::Alipay,
            SignInMethod::WeChat,
            SignInMethod::StaffSso,
            SignInMethod::BreakGlass,
            SignInMethod::Console,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A session to store. A session is refreshed by rotation: the old row is revoked and a new
/// row of the same family issued; presenting a revoked refresh token again revokes the family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub account: AccountId,
    pub token_hash: [u8; 32],
    pub refresh_hash: Option<[u8; 32]>,
    pub family: [u8; 16],
    pub method: SignInMethod,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub refresh_expires_at: Option<Timestamp>,
}

/// A live or revoked session with its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub account: Account,
    pub family: [u8; 16],
    pub method: SignInMethod,
    pub expires_at: Timestamp,
    pub refresh_expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A pending one-time code for one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpChallenge {
    pub phone: BlindIndex,
    pub code_mac: [u8; 32],
    pub expires_at: Timestamp,
    pub attempts_left: u8,
}

/// What a stored code attempt found, after the attempt was counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtpAttempt {
    /// The code matched and the challenge is gone (a code works once).
    Accepted,
    /// No challenge, spent, or expired.
    NoChallenge,
    Wrong {
        attempts_left: u8,
    },
}

/// A person on an account's frequent-visitor list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequentVisitor {
    pub id: String,
    pub account: AccountId,
    pub name: Sealed,
    pub id_kind: IdKind,
    pub id_number: Sealed,
    pub id_blind: BlindIndex,
    pub phone: Option<Sealed>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A staff member's local password sign-in (break glass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffCredential {
    pub account: AccountId,
    pub username: String,
    /// Argon2id in PHC string form.
    pub password_hash: String,
    /// The TOTP secret, sealed.
    pub totp_secret: Sealed,
    /// The last TOTP time step accepted; a step is never accepted twice.
    pub last_totp_step: i64,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: Timestamp,
    /// Who acted, if known.
    pub actor: Option<AccountId>,
    /// What happened, a stable name (`sign_in`, `sign_in_failed`, `roles_changed`…).
    pub action: String,
    /// Free text without personal data (masked values only).
    pub detail: String,
}

#[async_trait]
/// Data-subject requests and breach notices are part of the identity port (`DataRequestStore`,
/// `BreachStore`), so one store handle serves them all.
pub trait AccountStore:
    crate::data_request::DataRequestStore + crate::breach::BreachStore + Send + Sync + 'static
{
    async fn create_account(
        &self,
        display_name: &str,
        roles: Roles,
        at: Timestamp,
    ) -> Result<Account, StoreError>;
    async fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// The account of a phone, created on first sign-in, and whether its phone is sealed yet
    /// (the phone is sealed under the account's own data key, so only once the account exists).
    /// Two racing first sign-ins of one phone get the same account.
    async fn phone_account(
        &self,
        phone: BlindIndex,
        display_name: &str,
        at: Timestamp,
    ) -> Result<(Account, bool), StoreError>;
    /// Stores the account's sealed sign-in phone unless one is stored already.
    async fn seal_account_phone(&self, id: AccountId, sealed: &Sealed) -> Result<(), StoreError>;
    /// The account linked to an external subject (Alipay user id, WeChat openid, SSO subject),
    /// created with `roles` on first sign-in.
    async fn linked_account(
        &self,
        provider: &str,
        subject: &str,
        display_name: &str,
        roles: Roles,
        at: Timestamp,
    ) -> Result<Account, StoreError>;
    async fn set_roles(&self, id: AccountId, roles: Roles) -> Result<(), StoreError>;
    /// The sign-in phone of an account (its blind index and sealed value), if it has one.
    async fn phone_of(&self, id: AccountId) -> Result<Option<(BlindIndex, Sealed)>, StoreError>;
    async fn rename_account(&self, id: AccountId, display_name: &str) -> Result<(), StoreError>;

    // Sessions.
    async fn insert_session(&self, session: &NewSession) -> Result<i64, StoreError>;
    /// Live (unrevoked, unexpired at `now`) sessions of many token hashes at once.
    async fn sessions_by_tokens(
        &self,
        token_hashes: &[[u8; 32]],
        now: Timestamp,
    ) -> Result<Vec<([u8; 32], SessionRecord)>, StoreError>;
    /// The blind indexes that make each of `accounts` one person (its sign-in phone, the ID
    /// numbers on its frequent-visitor list), for many accounts at once.
    async fn person_keys(
        &self,
        accounts: &[AccountId],
    ) -> Result<Vec<(AccountId, BlindIndex)>, StoreError>;
    async fn session_by_refresh(
        &self,
        refresh_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Revokes one session if still live; whether it was.
    async fn revoke_session(&self, id: i64, at: Timestamp) -> Result<bool, StoreError>;
    async fn revoke_family(&self, family: &[u8; 16], at: Timestamp) -> Result<u64, StoreError>;
    async fn revoke_account_sessions(
        &self,
        account: AccountId,
        at: Timestamp,
    ) -> Result<u64, StoreError>;

    // One-time codes.
    /// Stores a new challenge for the phone, replacing any earlier one.
    async fn put_otp(&self, challenge: &OtpChallenge) -> Result<(), StoreError>;
    /// Counts one attempt against the phone's challenge and, if `code_mac` matches and the
    /// challenge is live at `now`, consumes it. Atomic: concurrent attempts can't share a count.
    async fn attempt_otp(
        &self,
        phone: BlindIndex,
        code_mac: &[u8; 32],
        now: Timestamp,
    ) -> Result<OtpAttempt, StoreError>;

    // Frequent visitors.
    /// `Conflict("visitor_limit")` at `max` entries, `Conflict("duplicate_visitor")` if the ID
    /// number is already on the list.
    async fn insert_visitor(&self, visitor: &FrequentVisitor, max: u32) -> Result<(), StoreError>;
    async fn list_visitors(&self, account: AccountId) -> Result<Vec<FrequentVisitor>, StoreError>;
    /// `NotFound` unless the visitor exists on this account.
    async fn update_visitor(&self, visitor: &FrequentVisitor) -> Result<(), StoreError>;
    async fn delete_visitor(&self, account: AccountId, id: &str) -> Result<(), StoreError>;

    // Staff break-glass credentials.
    async fn put_staff_credential(&self, credential: &StaffCredential) -> Result<(), StoreError>;
    async fn staff_credential(&self, username: &str)
        -> Result<Option<StaffCredential>, StoreError>;
    /// Records an accepted TOTP step if it is later than the last one; whether it was.
    async fn advance_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError>;

    // Consent and face verification.
    async fn insert_consent(&self, consent: &Consent) -> Result<(), StoreError>;
    /// The newest consent of an account for a purpose that is not withdrawn.
    async fn current_consent(
        &self,
        account: AccountId,
        purpose: &str,
    ) -> Result<Option<Consent>, StoreError>;
    /// Every consent an account gave, withdrawn ones too, oldest first.
    async fn list_consents(&self, account: AccountId) -> Result<Vec<Consent>, StoreError>;
    /// Withdraws every consent of an account for a purpose; how many there were.
    async fn withdraw_consent(
        &self,
        account: AccountId,
        purpose: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError>;
    async fn insert_face(&self, face: &FaceVerification) -> Result<(), StoreError>;
    async fn face(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<Option<FaceVerification>, StoreError>;
    async fn face_by_certify_id(
        &self,
        certify_id: &str,
    ) -> Result<Option<FaceVerification>, StoreError>;
    /// Records the outcome of a pending verification; false if it was no longer pending.
    async fn complete_face(
        &self,
        id: &str,
        state: FaceState,
        detail: &str,
        at: Timestamp,
        valid_until: Option<Timestamp>,
    ) -> Result<bool, StoreError>;
    /// The ID numbers (blind indexes) an account holds a pass for that is valid at `now`.
    async fn face_passes(
        &self,
        account: AccountId,
        now: Timestamp,
    ) -> Result<Vec<BlindIndex>, StoreError>;

    // The audit trail from before the hash-chained log (`audit`): nothing writes it any more;
    // its lines are moved into the chain once, at start (`gatehouse_audit::adopt_legacy`).
    /// Writes a line the old way (kept for the import's tests).
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The oldest `limit` lines still in the old trail, with their ids.
    async fn legacy_audit(&self, limit: u32) -> Result<Vec<(i64, AuditEvent)>, StoreError>;
    /// Removes the old trail's lines up to and including `id` (once they are in the chain).
    async fn forget_legacy_audit(&self, through_id: i64) -> Result<u64, StoreError>;
}
