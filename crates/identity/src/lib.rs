//! Identity: who is calling and what they may keep about themselves.
//!
//! Visitors sign in with a phone and one-time code ([`phone`]); every sign-in ends in a
//! session ([`sessions`]). Visitors keep a profile and a frequent-visitor list ([`visitors`]).
//! Staff use the break-glass administrator ([`staff`]) when single sign-on is unavailable.
//! Sign-in is rate limited ([`limits`]) and written to the audit trail.
//!
//! Architecture invariant: secrets are never stored in the clear. Tokens are stored as SHA-256,
//! codes as keyed MACs, passwords as Argon2id, personal values sealed by the keyring.

mod batch;
pub mod breach;
pub mod consents;
mod error;
pub mod external;
pub mod face;
mod guarded;
pub mod limits;
pub mod mail;
mod outbox;
mod person_keys;
pub mod phone;
pub mod requests;
pub mod rights;
pub mod sessions;
pub mod sms;
pub mod staff;
pub mod staff_sso;
pub mod visitors;

use std::sync::Arc;

use gatehouse_domain::account::AccountStore;
use gatehouse_domain::audit::{AuditEntry, AuditFilter, AuditRecord};
use gatehouse_domain::data_key::DataSubject;
use gatehouse_domain::order::AccountId;
use gatehouse_domain::Clock;
use gatehouse_privacy::{SubjectKey, Vault};
use jiff::tz::TimeZone;

pub use error::IdentityError;
pub use external::{ExternalIdentity, ProviderFailure};
pub use face::{ConsentText, FaceOutcome, FaceProvider, FaceStart, FaceStarted};
pub use limits::{KeyedLimiter, Rate};
pub use mail::{LocalMail, MailMessage, MailSender};
pub use phone::{CodeSent, OtpPolicy};
pub use sessions::{Authenticated, IssuedSession, SessionPolicy};
pub use sms::{LocalSms, SmsMessage, SmsSender};
pub use staff_sso::{StaffClaims, StaffSso};
pub use visitors::{MaskedVisitor, OpenedVisitor, Profile, VisitorFields};

/// A display name: 1 to 64 characters, as catalogue text is checked.
pub(crate) fn check_display_name(name: &str) -> Result<(), IdentityError> {
    gatehouse_domain::catalogue::text_field("display_name", name, 1, 64).map_err(|e| match e {
        gatehouse_domain::BookingError::Invalid { field, message } => {
            IdentityError::Invalid { field, message }
        }
        _ => IdentityError::invalid("display_name", "is not valid"),
    })
}

/// `at + d`, or the end of time if that overflows.
pub(crate) fn later(at: jiff::Timestamp, d: jiff::SignedDuration) -> jiff::Timestamp {
    at.saturating_add(d).unwrap_or(jiff::Timestamp::MAX)
}

/// The sign-in rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInLimits {
    /// Codes sent to one phone: the short gap between sends.
    pub code_sends_per_phone: Rate,
    /// Codes sent to one phone over an hour.
    pub code_sends_per_phone_hourly: Rate,
    /// Codes requested from one IP address.
    pub code_sends_per_ip: Rate,
    /// Wrong or expired codes from one IP address.
    pub code_failures_per_ip: Rate,
    /// Failed staff sign-ins for one user name.
    pub staff_failures_per_user: Rate,
    /// Failed staff sign-ins from one IP address.
    pub staff_failures_per_ip: Rate,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            code_sends_per_phone: Rate::new(1, 60),
            code_sends_per_phone_hourly: Rate::new(5, 3600),
            code_sends_per_ip: Rate::new(20, 3600),
            code_failures_per_ip: Rate::new(20, 900),
            staff_failures_per_user: Rate::new(5, 900),
            staff_failures_per_ip: Rate::new(20, 900),
        }
    }
}

/// How the identity service runs.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub museum_tz: TimeZone,
    pub sessions: SessionPolicy,
    pub otp: OtpPolicy,
    pub limits: SignInLimits,
    pub max_frequent_visitors: u32,
    /// The signature an SMS starts with (【…】), as registered with the SMS provider.
    pub sms_signature: String,
    pub face: FaceConfig,
    /// The consent text for the risk service's use of a visitor's data.
    pub risk_consent: ConsentText,
    /// The breaker around each provider (face verification, each sign-in provider).
    pub provider_breaker: gatehouse_domain::breaker::BreakerPolicy,
    /// Who is texted when a breach's notice deadline nears or passes (the data-protection
    /// officer, the duty manager).
    pub breach_escalation_phones: Vec<String>,
    /// Who is e-mailed the breach report when notices are sent, and every escalation (the
    /// data-protection officer, the supervising authority's reporting mailbox).
    pub breach_emails: Vec<String>,
}

/// Face verification settings.
#[derive(Debug, Clone)]
pub struct FaceConfig {
    pub consent: ConsentText,
    /// How long a pass counts.
    pub pass_valid_hours: u32,
    /// Where the provider reports completion (this server's `/api/v1/face/callback`).
    pub callback_url: String,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            consent: ConsentText::default(),
            pass_valid_hours: 24,
            callback_url: "http://127.0.0.1:8080/api/v1/face/callback".into(),
        }
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            museum_tz: TimeZone::get("Asia/Shanghai").unwrap_or(TimeZone::UTC),
            sessions: SessionPolicy::default(),
            otp: OtpPolicy::default(),
            limits: SignInLimits::default(),
            max_frequent_visitors: 20,
            sms_signature: "Gatehouse".into(),
            face: FaceConfig::default(),
            risk_consent: consents::default_risk_text(),
            provider_breaker: gatehouse_domain::breaker::BreakerPolicy::default(),
            breach_escalation_phones: Vec::new(),
            breach_emails: Vec::new(),
        }
    }
}

struct Limiters {
    code_sends_per_phone: KeyedLimiter,
    code_sends_per_phone_hourly: KeyedLimiter,
    code_sends_per_ip: KeyedLimiter,
    code_failures_per_ip: KeyedLimiter,
    staff_failures_per_user: KeyedLimiter,
    staff_failures_per_ip: KeyedLimiter,
}

pub struct IdentityService {
    store: Arc<dyn AccountStore>,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    sms: Arc<dyn SmsSender>,
    config: IdentityConfig,
    limits: Limiters,
    cache: sessions::SessionCache,
    reader: sessions::SessionReader,
    person_keys: person_keys::PersonKeyReader,
    dummy_hash: String,
    externals: external::Externals,
    face: std::sync::RwLock<Option<Arc<dyn FaceProvider>>>,
    sso: std::sync::RwLock<Option<Arc<dyn StaffSso>>>,
    mail: std::sync::RwLock<Arc<dyn MailSender>>,
    pending_sso: staff_sso::PendingSignIns,
    audit_log: gatehouse_audit::AuditLog,
}

impl IdentityService {
    /// Must run inside a tokio runtime (it starts the batched session reader).
    pub fn start(
        store: Arc<dyn AccountStore>,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        sms: Arc<dyn SmsSender>,
        audit_log: gatehouse_audit::AuditLog,
        config: IdentityConfig,
    ) -> Arc<Self> {
        let l = config.limits;
        Arc::new(Self {
            reader: sessions::session_reader(store.clone(), clock.clone()),
            person_keys: person_keys::person_key_reader(store.clone()),
            cache: sessions::SessionCache::new(config.sessions.cache_ttl),
            limits: Limiters {
                code_sends_per_phone: KeyedLimiter::new(l.code_sends_per_phone),
                code_sends_per_phone_hourly: KeyedLimiter::new(l.code_sends_per_phone_hourly),
                code_sends_per_ip: KeyedLimiter::new(l.code_sends_per_ip),
                code_failures_per_ip: KeyedLimiter::new(l.code_failures_per_ip),
                staff_failures_per_user: KeyedLimiter::new(l.staff_failures_per_user),
                staff_failures_per_ip: KeyedLimiter::new(l.staff_failures_per_ip),
            },
            dummy_hash: staff::dummy_hash(),
            externals: external::Externals::default(),
            face: std::sync::RwLock::new(None),
            sso: std::sync::RwLock::new(None),
            mail: std::sync::RwLock::new(Arc::new(LocalMail::default())),
            pending_sso: staff_sso::PendingSignIns::default(),
            store,
            vault,
            clock,
            sms,
            audit_log,
            config,
        })
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// The SMS provider (its outbox, for the local provider).
    /// Sends breach reports and escalations through `mail` (an SMTP relay) instead of the
    /// in-memory outbox.
    pub fn use_mail(&self, mail: Arc<dyn MailSender>) {
        *self
            .mail
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mail;
    }

    pub fn mail(&self) -> Arc<dyn MailSender> {
        self.mail
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn sms(&self) -> &Arc<dyn SmsSender> {
        &self.sms
    }

    /// Writes one line of the audit trail; a failure to write is logged, not returned, so an
    /// audit outage does not stop sign-in (it is raised as an error in the log instead).
    pub async fn audit(&self, actor: Option<AccountId>, action: &str, detail: &str) {
        self.record(AuditEntry::new(self.clock.now(), actor, action, detail))
            .await;
    }

    /// Writes one record of the audit trail with everything it says (subject, field, purpose,
    /// origin); a failure is logged, not returned.
    pub async fn record(&self, entry: AuditEntry) {
        let action = entry.action.clone();
        if let Err(e) = self.audit_log.record(entry).await {
            tracing::error!(error = %e, action, "audit record not written");
        }
    }

    /// Writes one record that must be durable before the caller goes on (a reveal, an export):
    /// its place in the log.
    pub async fn record_durably(&self, entry: AuditEntry) -> Result<u64, IdentityError> {
        self.audit_log.record(entry).await.map_err(|e| {
            tracing::error!(error = %e, "audit record not written");
            IdentityError::Unavailable
        })
    }

    /// A person's data key to seal with (made on first use).
    pub(crate) async fn sealing_key(
        &self,
        subject: &DataSubject,
    ) -> Result<Arc<SubjectKey>, IdentityError> {
        self.vault.sealing_key(subject).await.map_err(vault_error)
    }

    /// A person's data key to open with (shredded if they were erased).
    pub(crate) async fn opening_key(
        &self,
        subject: &DataSubject,
    ) -> Result<Arc<SubjectKey>, IdentityError> {
        self.vault.opening_key(subject).await.map_err(vault_error)
    }

    /// Audit records matching `filter`, newest first.
    pub async fn audit_trail(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, IdentityError> {
        self.audit_log
            .store()
            .search_audit(filter, limit.min(1000))
            .await
            .map_err(IdentityError::store)
    }

    /// Grants roles (staff administration).
    pub async fn set_roles(
        &self,
        actor: AccountId,
        account: AccountId,
        roles: gatehouse_domain::access::Roles,
    ) -> Result<(), IdentityError> {
        self.store
            .set_roles(account, roles)
            .await
            .map_err(IdentityError::store)?;
        self.forget_account(account);
        self.audit(
            Some(actor),
            "roles_changed",
            &format!("account {} now {roles}", account.0),
        )
        .await;
        Ok(())
    }

    /// Creates an account with roles (staff administration and the console).
    pub async fn create_account(
        &self,
        display_name: &str,
        roles: gatehouse_domain::access::Roles,
    ) -> Result<gatehouse_domain::account::Account, IdentityError> {
        crate::check_display_name(display_name)?;
        self.store
            .create_account(display_name.trim(), roles, self.clock.now())
            .await
            .map_err(IdentityError::store)
    }
}

pub(crate) fn vault_error(e: gatehouse_privacy::PrivacyError) -> IdentityError {
    tracing::error!(error = %e, "a data key could not be fetched");
    IdentityError::Unavailable
}
