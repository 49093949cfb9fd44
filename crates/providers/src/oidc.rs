//! OpenID Connect relying party for staff single sign-on: discovery, the authorization URL
//! (code flow, PKCE S256, state, nonce), the code exchange at the token endpoint
//! (`client_secret_basic`), and ID token validation: signature against the provider's JWKS
//! (refetched once when a key id is unknown, for key rotation), issuer, audience (and `azp`
//! when there are several), expiry with 60 s leeway, and the nonce.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::Clock;
use gatehouse_identity::{ProviderFailure, StaffClaims, StaffSso};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

#[derive(Clone)]
pub struct OidcConfig {
    /// The issuer identifier; discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// This server's `/api/v1/auth/staff/sso/callback`, as registered at the provider.
    pub redirect_uri: String,
    /// Scopes to ask for, besides `openid`.
    pub scopes: String,
    /// The ID token claim that lists the person's Gatehouse roles (a string or an array).
    pub role_claim: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

pub struct OidcClient {
    http: reqwest::Client,
    config: OidcConfig,
    discovery: RwLock<Option<Discovery>>,
    jwks: RwLock<Option<JwkSet>>,
    clock: Arc<dyn Clock>,
}

fn unavailable(what: impl std::fmt::Display) -> ProviderFailure {
    ProviderFailure::Unavailable(what.to_string())
}

impl OidcClient {
    pub fn new(config: OidcConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            http: crate::http_client(),
            config,
            discovery: RwLock::new(None),
            jwks: RwLock::new(None),
            clock,
        }
    }

    async fn discovery(&self) -> Result<Discovery, ProviderFailure> {
        if let Some(d) = self.discovery.read().await.clone() {
            return Ok(d);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let d: Discovery = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(format!("discovery unreachable: {e}")))?
            .json()
            .await
            .map_err(|e| unavailable(format!("discovery unreadable: {e}")))?;
        if d.issuer != self.config.issuer {
            return Err(unavailable(format!(
                "discovery names issuer {:?}, not the configured one",
                d.issuer
            )));
        }
        *self.discovery.write().await = Some(d.clone());
        Ok(d)
    }

    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, ProviderFailure> {
        for refetch in [false, true] {
            if refetch || self.jwks.read().await.is_none() {
                let d = self.discovery().await?;
                let set: JwkSet = self
                    .http
                    .get(&d.jwks_uri)
                    .send()
                    .await
                    .map_err(|e| unavailable(format!("JWKS unreachable: {e}")))?
                    .json()
                    .await
                    .map_err(|e| unavailable(format!("JWKS unreadable: {e}")))?;
                *self.jwks.write().await = Some(set);
            }
            let guard = self.jwks.read().await;
            let found = guard.as_ref().and_then(|set| match kid {
                Some(kid) => set.find(kid),
                None => set.keys.first(),
            });
            if let Some(jwk) = found {
                return DecodingKey::from_jwk(jwk)
                    .map_err(|e| unavailable(format!("unusable JWK: {e}")));
            }
        }
        Err(unavailable(
            "the ID token's key is not in the provider's JWKS",
        ))
    }

    /// Validates an ID token and returns its claims.
    pub async fn validate_id_token(
        &self,
        token: &str,
        nonce: &str,
    ) -> Result<serde_json::Value, ProviderFailure> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| unavailable(format!("ID token malformed: {e}")))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256
        ) {
            return Err(unavailable(format!(
                "ID token algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 60;
        // Expiry is checked against the injected clock below, not the library's wall clock.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| unavailable(format!("ID token rejected: {e}")))?;
        let claims = data.claims;
        let now = self.clock.now().as_second();
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if exp + 60 < now {
            return Err(unavailable("ID token expired"));
        }
        let auds = match claims.get("aud") {
            Some(serde_json::Value::Array(a)) => a.len(),
            _ => 1,
        };
        if auds > 1
            && claims.get("azp").and_then(|v| v.as_str()) != Some(self.config.client_id.as_str())
        {
            return Err(unavailable(
                "ID token has several audiences and another azp",
            ));
        }
        if claims.get("nonce").and_then(|v| v.as_str()) != Some(nonce) {
            return Err(unavailable("ID token nonce does not match this sign-in"));
        }
        Ok(claims)
    }
}

#[async_trait]
impl StaffSso for OidcClient {
    fn issuer(&self) -> &str {
        &self.config.issuer
    }

    async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<String, ProviderFailure> {
        let d = self.discovery().await?;
        let scope = format!("openid {}", self.config.scopes).trim().to_owned();
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("scope", scope.as_str()),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ])
        .map_err(unavailable)?;
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{query}", d.authorization_endpoint))
    }

    async fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        nonce: &str,
    ) -> Result<StaffClaims, ProviderFailure> {
        let d = self.discovery().await?;
        let response = self
            .http
            .post(&d.token_endpoint)
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.config.redirect_uri.as_str()),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await
            .map_err(|e| unavailable(format!("token endpoint unreachable: {e}")))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| unavailable(format!("token response unreadable: {e}")))?;
        if !status.is_success() {
            let error = body
                .get("error")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown");
            // invalid_grant: the code was wrong, used or expired; the person signs in again.
            return Err(if error == "invalid_grant" {
                ProviderFailure::Refused(format!(
                    "{error}: {}",
                    body.get("error_description")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                ))
            } else {
                unavailable(format!("token endpoint answered {status}: {error}"))
            });
        }
        let id_token = body
            .get("id_token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| unavailable("no id_token in the token response"))?;
        let claims = self.validate_id_token(id_token, nonce).await?;
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let roles = match claims.get(&self.config.role_claim) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(s)) => s
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(StaffClaims {
            subject: text("sub"),
            name: text("name"),
            roles,
        })
    }
}
