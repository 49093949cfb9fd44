//! Alipay open platform: RSA2-signed requests and verified responses, and sign-in with
//! `alipay.system.oauth.token` (the mini-program's `my.getAuthCode` code for the user's id).
//!
//! Signing, as Alipay documents it: every parameter but `sign` (and, for asynchronous
//! notifications, `sign_type`) with a non-empty value, sorted by name, joined as
//! `name=value&…` with values not URL-encoded; SHA256withRSA; base64. A synchronous response
//! is signed over the exact text of its `<method>_response` (or `error_response`) JSON object,
//! which is why it is located in the raw body rather than re-serialised.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::Clock;
use gatehouse_identity::{ExternalIdentity, ProviderFailure};
use rsa::{RsaPrivateKey, RsaPublicKey};

use crate::rsa_keys;

pub const OAUTH_TOKEN: &str = "alipay.system.oauth.token";

/// The string Alipay signs: non-empty parameters but `exclude`, sorted, `k=v` joined by `&`.
pub fn signing_string(params: &BTreeMap<String, String>, exclude: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !exclude.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Adds `sign` to request parameters.
pub fn sign_request(params: &mut BTreeMap<String, String>, key: &RsaPrivateKey) {
    params.remove("sign");
    let signature = rsa_keys::sign(key, &signing_string(params, &["sign"]));
    params.insert("sign".into(), signature);
}

/// Checks a request's `sign` (over every other parameter, `sign_type` included).
pub fn verify_request(params: &BTreeMap<String, String>, key: &RsaPublicKey) -> bool {
    params
        .get("sign")
        .is_some_and(|sign| rsa_keys::verify(key, &signing_string(params, &["sign"]), sign))
}

/// Signs an asynchronous notification as Alipay does (over every parameter but `sign` and
/// `sign_type`), adding `sign` and `sign_type=RSA2`; the local provider uses it.
pub fn sign_notification(params: &mut BTreeMap<String, String>, key: &RsaPrivateKey) {
    params.remove("sign");
    params.remove("sign_type");
    let signature = rsa_keys::sign(key, &signing_string(params, &["sign", "sign_type"]));
    params.insert("sign".into(), signature);
    params.insert("sign_type".into(), "RSA2".into());
}

/// Checks an asynchronous notification's `sign` (over every parameter but `sign` and
/// `sign_type`).
pub fn verify_notification(params: &BTreeMap<String, String>, key: &RsaPublicKey) -> bool {
    params.get("sign").is_some_and(|sign| {
        rsa_keys::verify(key, &signing_string(params, &["sign", "sign_type"]), sign)
    })
}

/// The raw text of the JSON object that is the value of `"node"` in `body`: the exact bytes
/// Alipay signed. Braces inside strings are skipped.
pub fn signed_node<'a>(body: &'a str, node: &str) -> Option<&'a str> {
    let key = format!("\"{node}\"");
    let after_key = body.find(&key)? + key.len();
    let start = after_key + body.get(after_key..)?.find('{')?;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in body.get(start..)?.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return body.get(start..=start + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// What an Alipay adapter needs.
#[derive(Clone)]
pub struct AlipayConfig {
    /// `https://openapi.alipay.com/gateway.do` in production.
    pub gateway: String,
    pub app_id: String,
    /// The application's private key (PEM or base64 DER).
    pub app_private_key: String,
    /// Alipay's public key for this application (PEM or base64 DER).
    pub alipay_public_key: String,
}

pub struct AlipayClient {
    http: reqwest::Client,
    gateway: String,
    app_id: String,
    key: RsaPrivateKey,
    alipay: RsaPublicKey,
    clock: Arc<dyn Clock>,
}

impl AlipayClient {
    pub fn new(config: &AlipayConfig, clock: Arc<dyn Clock>) -> Result<Self, rsa_keys::KeyError> {
        Ok(Self {
            http: crate::http_client(),
            gateway: config.gateway.clone(),
            app_id: config.app_id.clone(),
            key: rsa_keys::private_key(&config.app_private_key)?,
            alipay: rsa_keys::public_key(&config.alipay_public_key)?,
            clock,
        })
    }

    /// The common parameters of a request to `method`, signed with `extra` added.
    pub fn signed_params(&self, method: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let timestamp = crate::beijing::wall_time(self.clock.now());
        let mut params: BTreeMap<String, String> = [
            ("app_id", self.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", timestamp.as_str()),
            ("version", "1.0"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        sign_request(&mut params, &self.key);
        params
    }

    /// Calls `method` and returns its verified response object, or Alipay's verified refusal.
    pub async fn call(
        &self,
        method: &str,
        extra: &[(&str, &str)],
    ) -> Result<serde_json::Value, ProviderFailure> {
        let params = self.signed_params(method, extra);
        let body = self
            .http
            .post(&self.gateway)
            .form(&params)
            .send()
            .await
            .map_err(|e| ProviderFailure::Unavailable(format!("gateway unreachable: {e}")))?
            .text()
            .await
            .map_err(|e| ProviderFailure::Unavailable(format!("gateway answer unreadable: {e}")))?;
        let envelope: serde_json::Value = serde_json::from_str(&body)
            .map_err(|_| ProviderFailure::Unavailable("gateway answer is not JSON".into()))?;
        let sign = envelope.get("sign").and_then(|s| s.as_str()).unwrap_or("");
        let node_name = format!("{}_response", method.replace('.', "_"));
        let (node_name, node) = match signed_node(&body, &node_name) {
            Some(node) => (node_name.as_str(), node),
            None => (
                "error_response",
                signed_node(&body, "error_response")
                    .ok_or_else(|| ProviderFailure::Unavailable("no response object".into()))?,
            ),
        };
        if !rsa_keys::verify(&self.alipay, node, sign) {
            return Err(ProviderFailure::Unavailable(format!(
                "the {node_name} signature does not verify with Alipay's public key"
            )));
        }
        let value: serde_json::Value = serde_json::from_str(node)
            .map_err(|_| ProviderFailure::Unavailable("response object is not JSON".into()))?;
        match value.get("code").and_then(|c| c.as_str()) {
            None | Some("10000") if node_name != "error_response" => Ok(value),
            _ => {
                let sub_code = value.get("sub_code").and_then(|c| c.as_str()).unwrap_or("");
                let message = format!(
                    "{} {}",
                    sub_code,
                    value.get("sub_msg").and_then(|c| c.as_str()).unwrap_or("")
                );
                // Our own signature or app id refused: a configuration fault, not the user's.
                if sub_code.starts_with("isv.invalid-signature") || sub_code == "isv.invalid-app-id"
                {
                    Err(ProviderFailure::Unavailable(message))
                } else {
                    Err(ProviderFailure::Refused(message.trim().to_owned()))
                }
            }
        }
    }
}

#[async_trait]
impl ExternalIdentity for AlipayClient {
    fn provider(&self) -> &'static str {
        "alipay"
    }

    async fn subject_for_code(&self, code: &str) -> Result<String, ProviderFailure> {
        let token = self
            .call(
                OAUTH_TOKEN,
                &[("grant_type", "authorization_code"), ("code", code)],
            )
            .await?;
        // Newer apps receive open_id instead of user_id.
        token
            .get("open_id")
            .or_else(|| token.get("user_id"))
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ProviderFailure::Unavailable("no user id in the token response".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_string_sorts_skips_empty_and_excluded() {
        let params: BTreeMap<String, String> = [
            ("b", "2"),
            ("a", "1"),
            ("sign", "x"),
            ("sign_type", "RSA2"),
            ("c", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(signing_string(&params, &["sign"]), "a=1&b=2&sign_type=RSA2");
        assert_eq!(signing_string(&params, &["sign", "sign_type"]), "a=1&b=2");
    }

    #[test]
    fn the_signed_node_is_found_exactly_even_with_braces_in_strings() {
        let body = r#"{"alipay_system_oauth_token_response":{"user_id":"2088","msg":"a}{b \"}\""},"sign":"xyz"}"#;
        assert_eq!(
            signed_node(body, "alipay_system_oauth_token_response"),
            Some(r#"{"user_id":"2088","msg":"a}{b \"}\""}"#)
        );
        assert_eq!(signed_node(body, "error_response"), None);
        assert_eq!(
            signed_node(r#"{"error_response":{"a":{"b":1}"#, "error_response"),
            None,
            "unbalanced"
        );
    }
}
