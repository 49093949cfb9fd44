//! WeChat Pay API v3 signatures and resource encryption, as WeChat Pay documents them:
//!
//! - A request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
//!   signature="…",timestamp="…",serial_no="…"`; the signature is SHA256withRSA (PKCS#1 v1.5,
//!   base64) with the merchant's key over `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`, the URL being
//!   the path and query.
//! - A response or notification carries `Wechatpay-Timestamp`, `Wechatpay-Nonce`,
//!   `Wechatpay-Signature` and `Wechatpay-Serial`; the signature is SHA256withRSA with the
//!   platform key named by the serial over `TIMESTAMP\nNONCE\nBODY\n`. Timestamps more than 5
//!   minutes off are refused.
//! - A notification's `resource` is AEAD_AES_256_GCM with the merchant's APIv3 key: base64
//!   ciphertext (tag appended), a 12-character nonce and the associated data.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::{RsaPrivateKey, RsaPublicKey};

use crate::rsa_keys;

pub const SCHEMA: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far a signed timestamp may be from now.
pub const MAX_SKEW_SECS: i64 = 300;

/// The string a request signature covers.
pub fn request_message(method: &str, url: &str, timestamp: i64, nonce: &str, body: &str) -> String {
    format!("{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The string a response or notification signature covers.
pub fn response_message(timestamp: i64, nonce: &str, body: &str) -> String {
    format!("{timestamp}\n{nonce}\n{body}\n")
}

/// The `Authorization` header of a merchant request.
#[allow(clippy::too_many_arguments)] // the header has exactly these parts
pub fn authorization(
    mchid: &str,
    serial_no: &str,
    key: &RsaPrivateKey,
    method: &str,
    url: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    let signature = rsa_keys::sign(key, &request_message(method, url, timestamp, nonce, body));
    format!(
        "{SCHEMA} mchid=\"{mchid}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{serial_no}\""
    )
}

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationParts {
    pub mchid: String,
    pub nonce: String,
    pub signature: String,
    pub timestamp: i64,
    pub serial_no: String,
}

pub fn parse_authorization(header: &str) -> Option<AuthorizationParts> {
    let rest = header.strip_prefix(SCHEMA)?.trim_start();
    let mut fields = std::collections::HashMap::new();
    for pair in rest.split(',') {
        let (k, v) = pair.trim().split_once('=')?;
        fields.insert(k, v.trim_matches('"'));
    }
    Some(AuthorizationParts {
        mchid: (*fields.get("mchid")?).to_owned(),
        nonce: (*fields.get("nonce_str")?).to_owned(),
        signature: (*fields.get("signature")?).to_owned(),
        timestamp: fields.get("timestamp")?.parse().ok()?,
        serial_no: (*fields.get("serial_no")?).to_owned(),
    })
}

/// Checks a merchant request's signature.
pub fn verify_request(
    parts: &AuthorizationParts,
    merchant: &RsaPublicKey,
    method: &str,
    url: &str,
    body: &str,
) -> bool {
    rsa_keys::verify(
        merchant,
        &request_message(method, url, parts.timestamp, &parts.nonce, body),
        &parts.signature,
    )
}

/// The platform's signature over a response or notification body.
pub fn sign_response(platform: &RsaPrivateKey, timestamp: i64, nonce: &str, body: &str) -> String {
    rsa_keys::sign(platform, &response_message(timestamp, nonce, body))
}

/// Why a signed response or notification was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefused {
    #[error("the timestamp is more than 5 minutes from now")]
    Stale,
    #[error("the signature does not verify with the platform key")]
    Forged,
}

/// Checks a response or notification: fresh timestamp, then the platform signature.
pub fn verify_response(
    platform: &RsaPublicKey,
    timestamp: i64,
    nonce: &str,
    body: &str,
    signature: &str,
    now_secs: i64,
) -> Result<(), SignatureRefused> {
    if (now_secs - timestamp).abs() > MAX_SKEW_SECS {
        return Err(SignatureRefused::Stale);
    }
    if rsa_keys::verify(
        platform,
        &response_message(timestamp, nonce, body),
        signature,
    ) {
        Ok(())
    } else {
        Err(SignatureRefused::Forged)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the notification resource does not decrypt with the APIv3 key")]
pub struct ResourceRefused;

/// Decrypts a notification resource (AEAD_AES_256_GCM).
pub fn decrypt_resource(
    api_v3_key: &[u8; 32],
    associated_data: &str,
    nonce: &str,
    ciphertext_b64: &str,
) -> Result<String, ResourceRefused> {
    if nonce.len() != 12 {
        return Err(ResourceRefused);
    }
    let ciphertext = STANDARD
        .decode(ciphertext_b64)
        .map_err(|_| ResourceRefused)?;
    let cipher = Aes256Gcm::new_from_slice(api_v3_key).map_err(|_| ResourceRefused)?;
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: &ciphertext,
                aad: associated_data.as_bytes(),
            },
        )
        .map_err(|_| ResourceRefused)?;
    String::from_utf8(plain).map_err(|_| ResourceRefused)
}

/// Encrypts a notification resource (what the platform does; used by the local provider).
pub fn encrypt_resource(
    api_v3_key: &[u8; 32],
    associated_data: &str,
    nonce: &str,
    plaintext: &str,
) -> Result<String, ResourceRefused> {
    if nonce.len() != 12 {
        return Err(ResourceRefused);
    }
    let cipher = Aes256Gcm::new_from_slice(api_v3_key).map_err(|_| ResourceRefused)?;
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(nonce.as_bytes()),
            Payload {
                msg: plaintext.as_bytes(),
                aad: associated_data.as_bytes(),
            },
        )
        .map_err(|_| ResourceRefused)?;
    Ok(STANDARD.encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (RsaPrivateKey, RsaPublicKey) {
        let (private, public) = rsa_keys::generate_pem().unwrap();
        (
            rsa_keys::private_key(&private).unwrap(),
            rsa_keys::public_key(&public).unwrap(),
        )
    }

    #[test]
    fn request_signatures_round_trip_and_bind_every_part() {
        let (key, public) = keys();
        let body = r#"{"appid":"wxd678efh567hg6787","amount":{"total":100}}"#;
        let header = authorization(
            "1900009191",
            "5157F09EFDC096DE15EBE81A47057A72",
            &key,
            "POST",
            "/v3/pay/transactions/jsapi",
            1_554_208_460,
            "593BEC0C930BF1AFEB40B4A08C8FB242",
            body,
        );
        let parts = parse_authorization(&header).unwrap();
        assert_eq!(
            (parts.mchid.as_str(), parts.timestamp),
            ("1900009191", 1_554_208_460)
        );
        assert!(verify_request(
            &parts,
            &public,
            "POST",
            "/v3/pay/transactions/jsapi",
            body
        ));
        assert!(!verify_request(
            &parts,
            &public,
            "POST",
            "/v3/pay/transactions/jsapi",
            &body.replace("100", "101")
        ));
        assert!(!verify_request(
            &parts,
            &public,
            "GET",
            "/v3/pay/transactions/jsapi",
            body
        ));
        assert!(parse_authorization("Bearer x").is_none());
    }

    #[test]
    fn notifications_are_refused_when_stale_or_changed_by_one_byte() {
        let (key, public) = keys();
        let body = r#"{"id":"EV-2018022511223320873","event_type":"TRANSACTION.SUCCESS"}"#;
        let signature = sign_response(&key, 1_700_000_000, "n0nce", body);
        assert_eq!(
            verify_response(
                &public,
                1_700_000_000,
                "n0nce",
                body,
                &signature,
                1_700_000_100
            ),
            Ok(())
        );
        assert_eq!(
            verify_response(
                &public,
                1_700_000_000,
                "n0nce",
                body,
                &signature,
                1_700_000_301
            ),
            Err(SignatureRefused::Stale)
        );
        let mut changed = body.as_bytes().to_vec();
        changed[10] ^= 1;
        let changed = String::from_utf8(changed).unwrap();
        assert_eq!(
            verify_response(
                &public,
                1_700_000_000,
                "n0nce",
                &changed,
                &signature,
                1_700_000_000
            ),
            Err(SignatureRefused::Forged)
        );
    }

    #[test]
    fn resources_decrypt_only_with_the_key_nonce_and_associated_data() {
        let key = [7u8; 32];
        let sealed = encrypt_resource(
            &key,
            "transaction",
            "fdasflkja484",
            r#"{"out_trade_no":"o1"}"#,
        )
        .unwrap();
        assert_eq!(
            decrypt_resource(&key, "transaction", "fdasflkja484", &sealed).unwrap(),
            r#"{"out_trade_no":"o1"}"#
        );
        assert!(decrypt_resource(&[8u8; 32], "transaction", "fdasflkja484", &sealed).is_err());
        assert!(decrypt_resource(&key, "refund", "fdasflkja484", &sealed).is_err());
        assert!(decrypt_resource(&key, "transaction", "fdasflkja485", &sealed).is_err());
        assert!(decrypt_resource(&key, "transaction", "short", &sealed).is_err());
    }
}
