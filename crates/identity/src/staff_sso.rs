//! Staff single sign-on with OpenID Connect: the authorization code flow with PKCE (S256), a
//! `state` that works once and a `nonce` the ID token must carry. The protocol adapter (token
//! exchange, ID token validation against the provider's JWKS) lives in gatehouse-providers;
//! this module keeps the pending sign-ins and maps the provider's role claim to Gatehouse
//! roles. Roles are synchronised from the identity provider at every sign-in; a person whose
//! claim names no Gatehouse staff role is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::SignInMethod;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::external::ProviderFailure;
use crate::sessions::IssuedSession;
use crate::{IdentityError, IdentityService};

/// What the identity provider says about the person, from a validated ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffClaims {
    pub subject: String,
    pub name: String,
    pub roles: Vec<String>,
}

/// An OpenID provider.
#[async_trait]
pub trait StaffSso: Send + Sync + 'static {
    /// The issuer, which names the account links.
    fn issuer(&self) -> &str;
    async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<String, ProviderFailure>;
    /// Exchanges the code and validates the ID token (signature, issuer, audience, expiry,
    /// nonce).
    async fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        nonce: &str,
    ) -> Result<StaffClaims, ProviderFailure>;
}

/// The provider's name in errors.
const SSO_PROVIDER: &str = "staff single sign-on";

const PENDING_TTL: Duration = Duration::from_secs(600);
const MAX_PENDING: usize = 10_000;

struct Pending {
    verifier: String,
    nonce: String,
    started: Instant,
}

/// Sign-ins started and not yet finished, by the hash of their `state`.
#[derive(Default)]
pub(crate) struct PendingSignIns(Mutex<HashMap<[u8; 32], Pending>>);

fn random_b64(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn state_key(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl IdentityService {
    pub fn register_staff_sso(&self, sso: std::sync::Arc<dyn StaffSso>) {
        *self
            .sso
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sso);
    }

    /// Whether staff single sign-on is configured (the console offers it only then).
    pub fn has_staff_sso(&self) -> bool {
        self.staff_sso().is_ok()
    }

    fn staff_sso(&self) -> Result<std::sync::Arc<dyn StaffSso>, IdentityError> {
        self.sso
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(IdentityError::NotConfigured {
                provider: "staff single sign-on",
            })
    }

    /// Starts a staff sign-in: the URL to send the browser to.
    pub async fn start_staff_sso(&self) -> Result<String, IdentityError> {
        let sso = self.staff_sso()?;
        let (state, nonce, verifier) = (random_b64(32), random_b64(32), random_b64(32));
        let url = sso
            .authorization_url(&state, &nonce, &pkce_challenge(&verifier))
            .await
            .map_err(|e| e.into_error(SSO_PROVIDER))?;
        let mut pending = self
            .pending_sso
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.retain(|_, p| p.started.elapsed() < PENDING_TTL);
        if pending.len() >= MAX_PENDING {
            return Err(IdentityError::RateLimited {
                retry_after_secs: 60,
            });
        }
        pending.insert(
            state_key(&state),
            Pending {
                verifier,
                nonce,
                started: Instant::now(),
            },
        );
        Ok(url)
    }

    /// Finishes a staff sign-in from the provider's redirect.
    /// `iss` is the RFC 9207 issuer parameter of the redirect, when the provider sends one: it
    /// must name our provider (a mix-up defence).
    pub async fn finish_staff_sso(
        &self,
        state: &str,
        code: &str,
        iss: Option<&str>,
        ip: &str,
    ) -> Result<IssuedSession, IdentityError> {
        let now = self.clock.now();
        let failures = &self.limits.staff_failures_per_ip;
        failures.check(ip, now).map_err(crate::phone::limited)?;
        let pending = self
            .pending_sso
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&state_key(state))
            .filter(|p| p.started.elapsed() < PENDING_TTL);
        let Some(pending) = pending else {
            let _ = failures.hit(ip, now);
            self.audit(
                None,
                "staff_sign_in_failed",
                "single sign-on: unknown, used or expired state",
            )
            .await;
            return Err(IdentityError::SessionInvalid);
        };
        let sso = self.staff_sso()?;
        if iss.is_some_and(|i| i != sso.issuer()) {
            let _ = failures.hit(ip, now);
            self.audit(
                None,
                "staff_sign_in_failed",
                "single sign-on: redirect from another issuer",
            )
            .await;
            return Err(IdentityError::SessionInvalid);
        }
        let claims = match sso.exchange(code, &pending.verifier, &pending.nonce).await {
            Ok(c) => c,
            Err(e) => {
                let _ = failures.hit(ip, now);
                self.audit(
                    None,
                    "staff_sign_in_failed",
                    &format!("single sign-on: {e}"),
                )
                .await;
                return Err(e.into_error(SSO_PROVIDER));
            }
        };
        let roles: Vec<Role> = claims
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .filter(|r| *r != Role::Visitor)
            .collect();
        if roles.is_empty() {
            self.audit(
                None,
                "staff_sign_in_refused",
                &format!("single sign-on: {} holds no Gatehouse role", claims.subject),
            )
            .await;
            return Err(IdentityError::Forbidden);
        }
        let roles = Roles::of(&roles);
        let provider = format!("oidc:{}", sso.issuer());
        let name = if claims.name.trim().is_empty() {
            claims.subject.clone()
        } else {
            claims.name.clone()
        };
        let display: String = name.chars().take(64).collect();
        let account = self
            .store
            .linked_account(&provider, &claims.subject, &display, roles, now)
            .await
            .map_err(IdentityError::store)?;
        let account = if account.roles == roles {
            account
        } else {
            self.store
                .set_roles(account.id, roles)
                .await
                .map_err(IdentityError::store)?;
            self.forget_account(account.id);
            self.audit(
                Some(account.id),
                "roles_changed",
                &format!("from the identity provider: {roles}"),
            )
            .await;
            gatehouse_domain::account::Account { roles, ..account }
        };
        self.audit(
            Some(account.id),
            "staff_sign_in",
            &format!("single sign-on as {roles}"),
        )
        .await;
        self.issue_session(account, SignInMethod::StaffSso).await
    }
}

#[cfg(test)]
mod tests {
    /// RFC 7636 appendix B.
    #[test]
    fn pkce_challenge_matches_the_rfc_example() {
        assert_eq!(
            super::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
