//! Sign-in through an outside identity (the Alipay and WeChat mini-programs): the client hands
//! the server a one-time auth code, a provider adapter exchanges it for the provider's stable
//! user id, and that id is linked to a Gatehouse account on first sign-in. Adapters live in
//! gatehouse-providers; this module only knows the port.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::SignInMethod;

use crate::phone::limited;
use crate::sessions::IssuedSession;
use crate::{IdentityError, IdentityService};

/// Why a provider did not give us a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderFailure {
    /// The provider answered, verifiably, that the code is no good (unknown, used, expired).
    #[error("refused: {0}")]
    Refused(String),
    /// The provider could not be reached, or its answer failed signature verification.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl ProviderFailure {
    /// The caller-facing error for a failure of `provider`: a verifiable refusal is the
    /// caller's (401), anything else the provider's (502, logged).
    pub fn into_error(self, provider: &'static str) -> IdentityError {
        match self {
            ProviderFailure::Refused(message) => {
                IdentityError::ProviderRefused { provider, message }
            }
            ProviderFailure::Unavailable(message) => {
                tracing::warn!(provider, %message, "provider unavailable");
                IdentityError::ProviderUnavailable { provider }
            }
        }
    }
}

/// One outside identity provider.
#[async_trait]
pub trait ExternalIdentity: Send + Sync + 'static {
    /// `alipay` or `wechat`: the name in the sign-in route and in account links.
    fn provider(&self) -> &'static str;
    /// The provider's stable user id for a one-time auth code.
    async fn subject_for_code(&self, code: &str) -> Result<String, ProviderFailure>;
}

/// The registered providers, by name.
#[derive(Default)]
pub(crate) struct Externals(std::sync::RwLock<HashMap<&'static str, Arc<dyn ExternalIdentity>>>);

impl Externals {
    fn get(&self, name: &str) -> Option<Arc<dyn ExternalIdentity>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}

fn masked_subject(subject: &str) -> String {
    let shown: String = subject.chars().take(4).collect();
    format!("{shown}***")
}

impl IdentityService {
    /// Makes a provider available for sign-in (at start, from configuration), behind a breaker.
    pub fn register_external(&self, provider: Arc<dyn ExternalIdentity>) {
        let provider: Arc<dyn ExternalIdentity> = Arc::new(crate::guarded::GuardedExternal::new(
            provider,
            self.config.provider_breaker,
        ));
        self.externals
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(provider.provider(), provider);
    }

    /// Signs in with an outside provider's auth code; links a new account on first sign-in.
    pub async fn sign_in_external(
        &self,
        provider: &str,
        code: &str,
        ip: &str,
    ) -> Result<IssuedSession, IdentityError> {
        let now = self.clock.now();
        let failures = &self.limits.code_failures_per_ip;
        failures.check(ip, now).map_err(limited)?;
        if code.is_empty() || code.len() > 256 || !code.bytes().all(|b| b.is_ascii_graphic()) {
            let _ = failures.hit(ip, now);
            return Err(IdentityError::invalid(
                "code",
                "is 1 to 256 visible ASCII characters",
            ));
        }
        let adapter = self
            .externals
            .get(provider)
            .ok_or(IdentityError::NotConfigured {
                provider: provider_name(provider),
            })?;
        let name = adapter.provider();
        let subject = match adapter.subject_for_code(code).await {
            Ok(subject) => subject,
            Err(e) => {
                let refused = matches!(e, ProviderFailure::Refused(_));
                if refused {
                    let _ = failures.hit(ip, now);
                }
                let action = if refused {
                    "sign_in_failed"
                } else {
                    "provider_unavailable"
                };
                self.audit(None, action, &format!("{name}: {e}")).await;
                return Err(e.into_error(name));
            }
        };
        let (method, display) = match name {
            "alipay" => (SignInMethod::Alipay, "支付宝用户"),
            _ => (SignInMethod::WeChat, "微信用户"),
        };
        let account = self
            .store
            .linked_account(name, &subject, display, Roles::of(&[Role::Visitor]), now)
            .await
            .map_err(IdentityError::store)?;
        self.audit(
            Some(account.id),
            "sign_in",
            &format!("{name} {}", masked_subject(&subject)),
        )
        .await;
        self.issue_session(account, method).await
    }
}

/// A static name for an unknown provider in errors (never echo arbitrary input as `'static`).
fn provider_name(asked: &str) -> &'static str {
    match asked {
        "alipay" => "alipay",
        "wechat" => "wechat",
        _ => "this provider",
    }
}
